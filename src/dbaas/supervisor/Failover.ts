/**
 * Replacing a dead master. Kill before promote: the old master is made certainly dead through
 * the runtime first (SIGKILL works on a stopped process), so nothing of its epoch can arrive
 * after the successor drained its sync queue. Then its lease is removed and the ready slave
 * with the lowest pid is asked to promote itself; if it does not manage, the next one is.
 */
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import { clearMasterLease } from '../coordination/MasterLease.ts';
import { requestPromotion } from '../coordination/Promotion.ts';
import { readWorker } from '../coordination/WorkerRegistry.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import type { WorkerInfo } from '../protocol/names.ts';
import type { WorkerRuntime } from '../runtime/WorkerRuntime.ts';

const PROMOTION_TIMEOUT_MS = 20_000;

export interface FailoverDeps {
  zk: ZkClient;
  runtime: WorkerRuntime;
  cluster: string;
  /** Kills a candidate that did not manage to promote itself. */
  kill(workerId: string): Promise<void>;
  logger: Logger;
}

/**
 * Promotes one of `candidates` (ready slaves, alive in the runtime). Returns the new master, or
 * undefined when none could be promoted.
 */
export async function promoteSuccessor(deps: FailoverDeps, candidates: WorkerInfo[]): Promise<WorkerInfo | undefined> {
  for (const candidate of [...candidates].sort((a, b) => a.pid - b.pid)) {
    await clearMasterLease(deps.zk, deps.cluster);
    await requestPromotion(deps.zk, deps.cluster, candidate.workerId);
    deps.logger.info({ workerId: candidate.workerId, pid: candidate.pid }, 'promoting the ready slave with the lowest pid');
    const promoted = await waitForMaster(deps, candidate.workerId);
    if (promoted) return promoted;
    deps.logger.error({ workerId: candidate.workerId }, 'promotion did not complete; killing the candidate and trying the next');
    await deps.kill(candidate.workerId);
  }
  return undefined;
}

async function waitForMaster(deps: FailoverDeps, workerId: string): Promise<WorkerInfo | undefined> {
  const deadline = Date.now() + PROMOTION_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!deps.runtime.list().some((worker) => worker.workerId === workerId)) return undefined;
    const me = await readWorker(deps.zk, deps.cluster, workerId);
    // A vanished registration is a candidate whose session expired (frozen, or cut off): next one.
    if (!me) return undefined;
    if (me.role === 'master' && me.ready) return me;
    await sleep(10);
  }
  return undefined;
}
