/**
 * Reads every worker's own SQLite file directly (read-only), so a test can compare replicas
 * without going through the service under test.
 */
import { workerDbFile, workersDirOf } from '../src/dbaas/worker/files.ts';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { TABLE_NAMES } from '../src/dbaas/protocol/tables.ts';
import { sleep } from '../src/shared/timeout.ts';

export interface ReplicaContent {
  workerId: string;
  appliedSeq: number;
  /** request id → seq: the order in which this replica applied the writes. */
  order: Map<string, number>;
  counts: Record<string, number>;
  checksum: string;
}

export function readReplica(file: string): ReplicaContent {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    // One read transaction: the counts, the log and the position from the same moment, though the
    // worker goes on applying writes meanwhile (each statement alone would see its own moment).
    return db.transaction((): ReplicaContent => {
      const hash = createHash('sha256');
      const counts: Record<string, number> = {};
      for (const table of TABLE_NAMES) {
        const rows = db.prepare(`SELECT * FROM "${table}" ORDER BY 1, 2`).all();
        counts[table] = rows.length;
        hash.update(table).update(JSON.stringify(rows));
      }
      const order = new Map<string, number>();
      for (const row of db.prepare('SELECT request_id, seq FROM applied_requests').all() as { request_id: string; seq: number }[]) {
        order.set(row.request_id, row.seq);
      }
      const { applied_seq: appliedSeq } = db.prepare('SELECT applied_seq FROM replication_state').get() as { applied_seq: number };
      return { workerId: path.basename(file, '.db'), appliedSeq, order, counts, checksum: hash.digest('hex') };
    })();
  } finally {
    db.close();
  }
}

/** The replicas of the workers still running, by worker id. */
export function readLiveReplicas(dataDir: string, workerIds: string[]): ReplicaContent[] {
  return workerIds
    .map((workerId) => workerDbFile(workersDirOf(dataDir), workerId))
    .filter((file) => fs.existsSync(file))
    .map(readReplica);
}

const POLL_MS = 50;

/** Polls `probe` until it gives a value (not undefined or false); throws after `timeoutMs`. */
export async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

/**
 * The other side of `until`: that nothing happens within a window. Polls `holds` for `windowMs`
 * and throws, naming `what`, as soon as it does not hold.
 */
export async function staysTrue(holds: () => Promise<boolean> | boolean, windowMs: number, what: string): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (!(await holds())) throw new Error(`${what}: broken after ${Date.now() - start} ms of a ${windowMs} ms window`);
    if (Date.now() - start > windowMs) return;
    await sleep(POLL_MS);
  }
}
