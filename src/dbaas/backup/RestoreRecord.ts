/**
 * A restore waiting for the first start: `DATA_DIR/restore.json`, written by `npm run restore`
 * (or RESTORE_FROM) after it has installed a verified copy of the backup in DATA_DIR/workers. A
 * DATA_DIR with this record and without the cluster marker is a new cluster whose master starts
 * from that file (src/dbaas/supervisor/ClusterBootstrap.ts). JSON only: the supervisor reads it,
 * and the supervisor never opens a database.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PRIVATE_FILE_MODE } from '../../shared/private-files.ts';
import { RideShareError } from '../../shared/errors.ts';

const recordSchema = z.object({
  /** The installed copy's name in DATA_DIR/workers. */
  file: z.string().regex(/^[A-Za-z0-9._-]+\.db$/),
  /** The backup it is a copy of (left where it was). */
  from: z.string().min(1),
  seq: z.number().int().min(0),
  epoch: z.number().int().min(0),
  sha256: z.string(),
  size: z.number().int().min(1),
  /** The cluster the backup was taken from, when its manifest said so. */
  takenFrom: z.string().optional(),
  installedAt: z.string(),
});

export type PendingRestore = z.infer<typeof recordSchema>;

export function restoreRecordPath(dataDir: string): string {
  return path.join(dataDir, 'restore.json');
}

export function readPendingRestore(dataDir: string): PendingRestore | undefined {
  const file = restoreRecordPath(dataDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = recordSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new RideShareError('INTEGRITY', `${file} is not a restore record: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  return parsed.data;
}

/** Written under another name and renamed: a record cut short is never read as one. */
export function writePendingRestore(dataDir: string, record: PendingRestore): void {
  writeFileAtomically(restoreRecordPath(dataDir), `${JSON.stringify(record, null, 2)}\n`);
}

/** The cluster marker now carries the record; the pending one goes. */
export function clearPendingRestore(dataDir: string): void {
  fs.rmSync(restoreRecordPath(dataDir), { force: true });
}

/** Written under another name, synced and renamed; 0600, as everything of a cluster's data. */
export function writeFileAtomically(file: string, content: string): void {
  const partial = `${file}.partial-${process.pid}`;
  fs.rmSync(partial, { force: true });
  const fd = fs.openSync(partial, 'w', PRIVATE_FILE_MODE);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(partial, file);
}
