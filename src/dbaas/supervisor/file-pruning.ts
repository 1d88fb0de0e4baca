/**
 * Deleting the files of dead workers from the supervisor's folder, once each reconcile pass. Its
 * own file because the rule for when that is safe is what keeps a restart from files possible:
 * the most advanced copy of the data must never be the one deleted.
 */
import type { WorkerInfo } from '../coordination/worker-registry.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import { removeWorkerFiles, workerFileOwners } from '../worker/files.ts';
import type { Workforce } from './Workforce.ts';

export interface FilePruningSource {
  /** Pinned to the session that holds the supervisor lease (Leadership.ts): nothing is deleted without it. */
  zk: ZkClient;
  /** Where this supervisor's workers keep their files. */
  workersDir: string;
  workforce: Workforce;
}

/**
 * A dead worker's file is redundant only while a ready master is running: that master holds
 * every acknowledged write (a promoted master drained them all; the others' extra tails were
 * never acknowledged). The running set is read once, synchronously, and decides both "the
 * master runs" and "this worker is dead", so a master that died a moment ago never has its
 * file taken for redundant: the most advanced copy always survives for a restart from files.
 */
export function pruneDeadWorkersFiles({ zk, workersDir, workforce }: FilePruningSource, registered: readonly WorkerInfo[]): void {
  const running = new Set(workforce.running().map((worker) => worker.workerId));
  const master = registered.find((worker) => worker.role === 'master' && worker.ready && running.has(worker.workerId));
  if (!master || !zk.holdsSession()) return;
  for (const workerId of workerFileOwners(workersDir)) {
    if (workerId === master.workerId || running.has(workerId) || workforce.isStarting(workerId)) continue;
    removeWorkerFiles(workersDir, workerId);
  }
}
