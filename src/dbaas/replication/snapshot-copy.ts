/**
 * The consistent copy a snapshot server sends: `VACUUM INTO` a temporary file, run by a worker
 * thread on a read-only connection of its own. VACUUM INTO reads in one transaction, so the copy
 * holds whole writes only, and the replication position it contains (replication_state is written
 * in the same transaction as the data) is exactly the position of the copy. In WAL mode that read
 * transaction does not stop the worker's own connection from writing.
 *
 * Measured with 1,000,000 rides (bench/snapshot.ts; a 57 MiB worker file, two cores shared with
 * other work, a write every 5 ms): better-sqlite3's `db.backup()` on the worker's connection took
 * 0.2-0.6 s but stalled the event loop for 75-265 ms (its last step commits and fsyncs the copy,
 * which grows with the file); VACUUM INTO on the main thread stalls it for all of its 0.4-1.4 s; in
 * a thread it takes 0.4-1.5 s and the event loop never waited more than 5-47 ms. Its copy is also
 * compacted (53 MiB), so there is less to send.
 */
import { createRequire } from 'node:module';
import { Worker as Thread } from 'node:worker_threads';
import { POSITION_SQL } from './replica-file.ts';
import type { ReplicationPosition } from './ReplicaStore.ts';
import { RideShareError } from '../../shared/errors.ts';

const SQLITE_MODULE = createRequire(import.meta.url).resolve('better-sqlite3');

/**
 * Plain CommonJS, so the thread loads no TypeScript loader: it is handed the position query
 * (src/dbaas/replication/replica-file.ts) rather than importing it. A small page cache: the copy
 * streams through it once, and the default 16 MB would count against the worker's memory for
 * nothing.
 */
const COPY_THREAD_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.sqliteModule);
const source = new Database(workerData.source, { readonly: true, fileMustExist: true });
try {
  source.pragma('cache_size = -2000');
  source.prepare('VACUUM INTO ?').run(workerData.target);
} finally {
  source.close();
}
const copy = new Database(workerData.target, { readonly: true, fileMustExist: true });
try {
  parentPort.postMessage(copy.prepare(workerData.positionSql).get());
} finally {
  copy.close();
}
`;

/**
 * Copies `source` (a live worker database) to `target`, which must not exist, and returns the
 * position the copy contains. On abort the thread is terminated and the promise settles only once
 * it has exited, so a caller removing `target` afterwards cannot race a thread still writing it.
 */
export function copySnapshot(source: string, target: string, signal?: AbortSignal): Promise<ReplicationPosition> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const thread = new Thread(COPY_THREAD_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { sqliteModule: SQLITE_MODULE, source, target, positionSql: POSITION_SQL },
    });
    let result: ReplicationPosition | undefined;
    let failure: unknown;
    const onAbort = () => {
      failure ??= signal?.reason;
      void thread.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    thread.on('message', (position: ReplicationPosition) => (result = position));
    thread.on('error', (error) => (failure ??= error));
    thread.on('exit', () => {
      signal?.removeEventListener('abort', onAbort);
      if (failure === undefined && result) resolve({ appliedSeq: result.appliedSeq, epoch: result.epoch });
      else reject(asError(failure));
    });
  });
}

/** An error raised in the thread arrives as a plain object when it cannot be cloned as an Error. */
function asError(failure: unknown): Error {
  if (failure instanceof Error) return failure;
  const message = (failure as { message?: unknown } | undefined)?.message;
  return new RideShareError('INTERNAL', `snapshot copy failed: ${typeof message === 'string' ? message : String(failure ?? 'no position reported')}`);
}
