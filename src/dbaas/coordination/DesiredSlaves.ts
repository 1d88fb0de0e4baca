/**
 * The desired number of slaves, kept in ZooKeeper so a restarted (or second) orchestrator knows
 * it. The supervisor reconciles toward it; the autoscaler sets it.
 */
import { clusterPaths } from '../protocol/names.ts';
import { countRecord } from './records.ts';
import type { ZkClient } from './ZkClient.ts';

export class DesiredSlaves {
  private readonly path: string;

  constructor(
    private readonly zk: ZkClient,
    cluster: string,
  ) {
    this.path = clusterPaths(cluster).desiredSlaves;
  }

  /**
   * The stored count, or `fallback` when there is none or it is not a count. Nothing here bounds
   * it from above: the supervisor clamps it to MAX_SLAVES (src/dbaas/supervisor/WantedSlaves.ts).
   */
  async get(fallback: number): Promise<number> {
    return (await this.zk.readNodeIfExists(this.path, countRecord))?.data ?? fallback;
  }

  async set(count: number): Promise<void> {
    await this.zk.ensurePath(this.path);
    await this.zk.setData(this.path, count);
  }

  /** Sets the count only where none is stored yet (a new cluster). */
  async initialise(count: number): Promise<void> {
    const stat = await this.zk.exists(this.path);
    if (!stat) await this.set(count);
  }
}
