/**
 * Workers' ephemeral znodes: each worker publishes what it is (pid, role, ready, applied seq,
 * epoch) under /rideshare/<cluster>/workers/<id>; the node vanishes with the worker's session,
 * which is how a dead worker leaves the list without anyone deleting it.
 */
import { z } from 'zod';
import { clusterPaths } from '../protocol/names.ts';
import { count, id, looseRecord, pid } from './records.ts';
import { CreateMode, type ZkClient, type ZkWatcher } from './ZkClient.ts';

/** What each worker publishes about itself in its ephemeral znode. */
const workerInfoShape = z.object({
  workerId: id,
  pid,
  role: z.enum(['master', 'slave']),
  ready: z.boolean(),
  appliedSeq: count,
  epoch: count,
  /** When the worker process started (ms since the epoch); absent in registrations of older workers. */
  startedAt: count.optional(),
  /**
   * The protocol version the worker speaks (src/dbaas/protocol/messages.ts); absent in the
   * registrations of workers of protocol 3 and older (src/dbaas/protocol/worker-protocol.ts).
   */
  protocol: z.number().int().min(1).max(1_000_000).optional(),
});
export type WorkerInfo = z.infer<typeof workerInfoShape>;
const workerInfoRecord = looseRecord(workerInfoShape);

export class WorkerRegistration {
  private current: WorkerInfo;
  private published: string;

  private constructor(
    private readonly zk: ZkClient,
    private readonly path: string,
    info: WorkerInfo,
  ) {
    this.current = info;
    this.published = JSON.stringify(info);
  }

  static async register(zk: ZkClient, cluster: string, info: WorkerInfo): Promise<WorkerRegistration> {
    const paths = clusterPaths(cluster);
    await zk.ensurePath(paths.workers);
    const path = paths.workerNode(info.workerId);
    await zk.create(path, info, CreateMode.EPHEMERAL);
    return new WorkerRegistration(zk, path, info);
  }

  /** Publishes a change; unchanged information costs no ZooKeeper call. */
  async update(change: Partial<Omit<WorkerInfo, 'workerId'>>): Promise<void> {
    this.current = { ...this.current, ...change };
    const serialized = JSON.stringify(this.current);
    if (serialized === this.published) return;
    this.published = serialized;
    await this.zk.setData(this.path, this.current);
  }
}

/** Every registered worker; a node that disappears while being read is simply not listed. */
export async function listWorkers(zk: ZkClient, cluster: string, watcher?: ZkWatcher): Promise<WorkerInfo[]> {
  const paths = clusterPaths(cluster);
  const ids = await zk.getChildrenIfExists(paths.workers, watcher);
  const infos = await Promise.all(ids.map((id) => readWorker(zk, cluster, id)));
  return infos.filter((info): info is WorkerInfo => info !== undefined);
}

/** `watcher` (set only when the registration is there) fires once when it changes or goes. */
export async function readWorker(zk: ZkClient, cluster: string, workerId: string, watcher?: ZkWatcher): Promise<WorkerInfo | undefined> {
  return (await zk.readNodeIfExists(clusterPaths(cluster).workerNode(workerId), workerInfoRecord, watcher))?.data;
}

/** A worker known dead leaves the list at once, not when its session expires. */
export async function forgetWorker(zk: ZkClient, cluster: string, workerId: string): Promise<void> {
  await zk.removeIfExists(clusterPaths(cluster).workerNode(workerId));
}
