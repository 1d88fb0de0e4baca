/**
 * Cold start: when the whole cluster was stopped, its data lives on in the files of the workers
 * of the previous run. The first master takes the copy that applied the most (highest epoch,
 * then seq) as its own, so a restart of `npm start` keeps the data.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { positionIfReadable } from '../replication/replica-file.ts';
import type { ReplicationPosition } from '../replication/ReplicaStore.ts';
import { removeDatabaseFiles } from './files.ts';

export interface Candidate extends ReplicationPosition {
  file: string;
}

function positionOf(file: string): Candidate | undefined {
  const position = positionIfReadable(file);
  return position ? { file, ...position } : undefined;
}

/**
 * Copies the most advanced earlier worker file in `dir` to `target` (through SQLite's online
 * backup, so a WAL is folded in) and removes the earlier files. Returns the file it used.
 */
export async function recoverPreviousRun(dir: string, target: string): Promise<string | undefined> {
  if (!fs.existsSync(dir)) return undefined;
  const files = fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.db'))
    .map((name) => path.join(dir, name))
    .filter((file) => path.resolve(file) !== path.resolve(target));
  const best = files
    .map(positionOf)
    .filter((candidate): candidate is Candidate => candidate !== undefined)
    .sort((a, b) => b.epoch - a.epoch || b.appliedSeq - a.appliedSeq)[0];
  if (best) await copyDatabaseFile(best.file, target);
  for (const file of files) removeDatabaseFiles(file);
  return best?.file;
}

/** The most advanced worker file in `dir` (highest epoch, then seq), if any can be read. */
export function mostAdvancedFile(dir: string): Candidate | undefined {
  if (!fs.existsSync(dir)) return undefined;
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.db'))
    .map((name) => positionOf(path.join(dir, name)))
    .filter((candidate): candidate is Candidate => candidate !== undefined)
    .sort((a, b) => b.epoch - a.epoch || b.appliedSeq - a.appliedSeq)[0];
}

/**
 * Copies a worker file through SQLite's online backup (a WAL is folded in), under another name
 * first and then renamed: a copy cut short by a crash is never taken for data.
 */
export async function copyDatabaseFile(from: string, target: string): Promise<void> {
  const partial = `${target}.partial`;
  removeDatabaseFiles(partial);
  const source = new Database(from, { readonly: true });
  try {
    await source.backup(partial);
  } finally {
    source.close();
  }
  removeDatabaseFiles(target);
  fs.renameSync(partial, target);
}
