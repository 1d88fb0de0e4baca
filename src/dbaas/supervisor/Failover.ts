/**
 * Replacing a dead master. Kill before promote: the old master is made certainly dead through
 * the runtime first (SIGKILL works on a stopped process), so nothing of its epoch can arrive
 * after the successor drained its sync queue. Then its lease is removed and the ready slave
 * with the lowest pid is asked to promote itself; if it does not manage, the next one is.
 */
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import { isZkError, ZkErrorCode, type ZkClient } from '../coordination/ZkClient.ts';
import { listWorkers } from '../coordination/WorkerRegistry.ts';
import { clusterPaths, type PromotionRequest, type WorkerInfo } from '../protocol/names.ts';
import type { WorkerRuntime } from '../runtime/WorkerRuntime.ts';

const PROMOTION_TIMEOUT_MS = 20_000;

export interface FailoverDeps {
  zk: ZkClient;
  runtime: WorkerRuntime;
  cluster: string;
  logger: Logger;
}

export async function removeNode(zk: ZkClient, path: string): Promise<void> {
  await zk.remove(path).catch((error: unknown) => {
    if (!isZkError(error, ZkErrorCode.NO_NODE)) throw error;
  });
}

/**
 * Promotes one of `candidates` (ready slaves, alive in the runtime). Returns the new master, or
 * undefined when none could be promoted.
 */
export async function promoteSuccessor(deps: FailoverDeps, candidates: WorkerInfo[]): Promise<WorkerInfo | undefined> {
  const paths = clusterPaths(deps.cluster);
  for (const candidate of [...candidates].sort((a, b) => a.pid - b.pid)) {
    await removeNode(deps.zk, paths.master);
    const request: PromotionRequest = { workerId: candidate.workerId, requestedAt: Date.now() };
    await deps.zk.ensurePath(paths.promotion);
    await deps.zk.setData(paths.promotion, request);
    deps.logger.info({ workerId: candidate.workerId, pid: candidate.pid }, 'promoting the ready slave with the lowest pid');
    const promoted = await waitForMaster(deps, candidate.workerId);
    if (promoted) return promoted;
    deps.logger.error({ workerId: candidate.workerId }, 'promotion did not complete; killing the candidate and trying the next');
    await deps.runtime.kill(candidate.workerId, 'SIGKILL');
  }
  return undefined;
}

async function waitForMaster(deps: FailoverDeps, workerId: string): Promise<WorkerInfo | undefined> {
  const deadline = Date.now() + PROMOTION_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!deps.runtime.list().some((worker) => worker.workerId === workerId)) return undefined;
    const me = (await listWorkers(deps.zk, deps.cluster)).find((worker) => worker.workerId === workerId);
    // A vanished registration is a candidate whose session expired (frozen, or cut off): next one.
    if (!me) return undefined;
    if (me.role === 'master' && me.ready) return me;
    await sleep(10);
  }
  return undefined;
}
