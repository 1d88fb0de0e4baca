/**
 * The replication position inside a replica's SQLite file (its replication_state row, which the
 * store writes in the same transaction as the data, so a file's position is exactly what it
 * holds). Read here only: by the store opening its own file, by cold-start recovery choosing the
 * most advanced file, by a snapshot's copier and receiver checking what a copy holds, and by a
 * backup's check.
 */
import Database from 'better-sqlite3';
import type { ReplicationPosition } from './ReplicaStore.ts';

/** The query itself, for the snapshot copier's thread (snapshot-copy.ts), which cannot import this module. */
export const POSITION_SQL = 'SELECT applied_seq AS appliedSeq, epoch FROM replication_state WHERE id = 1';

/** The position in an open database; undefined when it has no position row. Throws what SQLite throws. */
export function positionIn(db: Database.Database): ReplicationPosition | undefined {
  const row = db.prepare(POSITION_SQL).get() as ReplicationPosition | undefined;
  return row && { appliedSeq: row.appliedSeq, epoch: row.epoch };
}

/** The position a file holds, read without writing to it; undefined when it has no position row. Throws what SQLite throws. */
export function readReplicaPosition(file: string): ReplicationPosition | undefined {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return positionIn(db);
  } finally {
    db.close();
  }
}

/** The position a file holds, or undefined when it has none or cannot be read as a replica's file. */
export function positionIfReadable(file: string): ReplicationPosition | undefined {
  try {
    return readReplicaPosition(file);
  } catch {
    return undefined;
  }
}
