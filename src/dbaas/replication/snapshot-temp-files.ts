/**
 * The temporary files snapshot copies are made in before they are sent (or, for a backup, passed
 * on): named after the process that made them, so whoever comes next can sweep what a killed
 * process left.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where servers put their copies while sending; not DATA_DIR/workers, whose files the supervisor prunes. */
export const DEFAULT_SNAPSHOT_TEMP_DIR = path.join(os.tmpdir(), 'rideshare-snapshots');

/**
 * A file name that says which process made it, so a later sweep knows when its maker is gone. The
 * random part keeps two servers of one process apart when the broker hands one request to both.
 */
export function snapshotTempFile(dir: string, transferId: string): string {
  return path.join(dir, `${process.pid}-${transferId}-${randomBytes(4).toString('hex')}.db`);
}

/**
 * Removes the copies (and their journals) left by processes that are gone: a killed server cannot
 * clean up after itself. Returns how many files it removed.
 */
export function sweepStaleSnapshotFiles(dir: string): number {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || isAlive(pid)) continue;
    fs.rmSync(path.join(dir, name), { force: true });
    removed += 1;
  }
  return removed;
}

/** Alive and not a zombie (a killed worker lingers as one until its parent reaps it). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}
