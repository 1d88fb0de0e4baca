/**
 * A worker's SQLite file layout: the workers' folder under DATA_DIR, `<workerId>.db` there plus
 * SQLite's `-wal` and `-shm` companions. The one place that knows it; the supervisor (which never
 * opens a database), recovery and the tests' replica checkers ask here. The position recorded
 * inside a file is read in src/dbaas/replication/replica-file.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PRIVATE_FILE_MODE } from '../../shared/private-files.ts';

const SUFFIXES = ['', '-wal', '-shm'] as const;
const FILE_NAME = /^(.+)\.db(?:-wal|-shm)?$/;

/** The folder of the workers' files in a data directory. */
export function workersDirOf(dataDir: string): string {
  return path.join(dataDir, 'workers');
}

export function workerDbFile(dir: string, workerId: string): string {
  return path.join(dir, `${workerId}.db`);
}

/** The worker a database file of the folder is named for (`<workerId>.db`). */
export function workerIdOfFile(file: string): string {
  return path.basename(file).replace(/\.db$/, '');
}

/** The ids of the workers that have any file in `dir`. */
export function workerFileOwners(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const owners = new Set<string>();
  for (const name of fs.readdirSync(dir)) {
    const match = FILE_NAME.exec(name);
    if (match?.[1]) owners.add(match[1]);
  }
  return [...owners];
}

/**
 * Makes a database file and whichever of its companions exist 0600. SQLite gives a new -wal or
 * -shm the permissions of the database file, so a file made private before journal_mode=WAL keeps
 * its companions private even without the worker's umask (a file an earlier version made 0644, a
 * store opened in another process).
 */
export function restrictDatabaseFiles(dbFile: string): void {
  for (const suffix of SUFFIXES) {
    try {
      fs.chmodSync(dbFile + suffix, PRIVATE_FILE_MODE);
    } catch (error) {
      // Missing, or another owner's (a volume shared with a container of another uid): the files stay usable as they are.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EPERM') throw error;
    }
  }
}

/** Removes a database file together with its WAL and shared-memory companions. */
export function removeDatabaseFiles(dbFile: string): void {
  for (const suffix of SUFFIXES) fs.rmSync(dbFile + suffix, { force: true });
}

export function removeWorkerFiles(dir: string, workerId: string): void {
  removeDatabaseFiles(workerDbFile(dir, workerId));
}
