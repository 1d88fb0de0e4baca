/**
 * Checks a backup file before anyone relies on it: a SQLite file in rollback-journal mode (what
 * the snapshot copy, `VACUUM INTO`, produces; a live worker file in WAL mode may keep part of its
 * data in its `-wal` companion and is refused), intact (`integrity_check`, `foreign_key_check`),
 * with every table of the data model and the replication position inside it, and, when a manifest
 * is given, of the size, checksum and position the manifest records. Opens the file read-only.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { BadRequestError } from '../../shared/errors.ts';
import { TABLE_NAMES } from '../protocol/tables.ts';
import { positionIn } from '../replication/replica-file.ts';
import type { BackupManifest } from './backup-format.ts';

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const HEADER_BYTES = 100;
/** Header bytes 18 and 19: the file format versions, 1 for rollback journal, 2 for WAL. */
const ROLLBACK_JOURNAL = 1;
/** How many integrity problems an error message lists. */
const PROBLEMS_SHOWN = 5;

export interface InspectedBackup {
  seq: number;
  epoch: number;
  size: number;
  sha256: string;
  /** Rows per table of the data model. */
  rows: Record<string, number>;
}

/** A file that is not a usable backup; the message says what is wrong with it. */
export class InvalidBackupError extends BadRequestError {}

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Validates `file` (against `manifest` when given) and returns what it holds. */
export async function inspectBackup(file: string, manifest?: BackupManifest): Promise<InspectedBackup> {
  const size = checkHeader(file);
  const sha256 = await sha256OfFile(file);
  if (manifest) {
    if (manifest.size !== size) throw new InvalidBackupError(`${file} has ${size} bytes, its manifest says ${manifest.size}: the file is truncated or not the one the manifest describes`);
    if (manifest.sha256 !== sha256)
      throw new InvalidBackupError(`${file}: SHA-256 ${sha256} does not match ${manifest.sha256} in its manifest: the file is damaged or not the one the manifest describes`);
  }
  const { seq, epoch, rows } = checkContent(file);
  if (manifest && (manifest.seq !== seq || manifest.epoch !== epoch)) {
    throw new InvalidBackupError(`${file} holds seq ${seq} at epoch ${epoch}, its manifest says seq ${manifest.seq} at epoch ${manifest.epoch}`);
  }
  return { seq, epoch, size, sha256, rows };
}

function checkHeader(file: string): number {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new InvalidBackupError(`${file} does not exist`);
  }
  if (!stat.isFile()) throw new InvalidBackupError(`${file} is not a file`);
  const header = Buffer.alloc(HEADER_BYTES);
  const fd = fs.openSync(file, 'r');
  let read: number;
  try {
    read = fs.readSync(fd, header, 0, HEADER_BYTES, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (read < HEADER_BYTES || !header.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
    throw new InvalidBackupError(`${file} is not a SQLite database (no SQLite header)`);
  }
  if (header[18] !== ROLLBACK_JOURNAL || header[19] !== ROLLBACK_JOURNAL) {
    throw new InvalidBackupError(`${file} is a database in WAL mode (a live worker file, whose -wal may hold part of its data), not a backup: take one with npm run backup`);
  }
  return stat.size;
}

function checkContent(file: string): { seq: number; epoch: number; rows: Record<string, number> } {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new InvalidBackupError(`${file} cannot be opened as a SQLite database: ${(error as Error).message}`);
  }
  try {
    const problems = query<{ integrity_check: string }>(db, file, 'PRAGMA integrity_check').map((row) => row.integrity_check);
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw new InvalidBackupError(`${file} is damaged (integrity_check: ${problems.slice(0, PROBLEMS_SHOWN).join('; ')})`);
    }
    const dangling = query<{ table: string; parent: string }>(db, file, 'PRAGMA foreign_key_check');
    if (dangling.length > 0) {
      const first = dangling[0] as { table: string; parent: string };
      throw new InvalidBackupError(`${file} has ${dangling.length} rows that refer to missing rows (first: ${first.table} → ${first.parent})`);
    }
    const tables = new Set(query<{ name: string }>(db, file, "SELECT name FROM sqlite_master WHERE type = 'table'").map((row) => row.name));
    const missing = [...TABLE_NAMES, 'replication_state', 'applied_requests'].filter((table) => !tables.has(table));
    if (missing.length > 0) throw new InvalidBackupError(`${file} is not a RideShare database (no table ${missing.join(', ')})`);
    const position = readable(file, () => positionIn(db));
    if (!position) throw new InvalidBackupError(`${file} has no replication position`);
    const rows: Record<string, number> = {};
    for (const table of TABLE_NAMES) rows[table] = (db.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n;
    return { seq: position.appliedSeq, epoch: position.epoch, rows };
  } finally {
    db.close();
  }
}

function query<T>(db: Database.Database, file: string, sql: string): T[] {
  return readable(file, () => db.prepare(sql).all() as T[]);
}

/** What `read` reads from the file; a SQLite failure says the file is no database to restore. */
function readable<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new InvalidBackupError(`${file} cannot be read as a SQLite database: ${(error as Error).message}`);
  }
}
