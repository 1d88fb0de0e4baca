/**
 * The desired number of slaves, kept in ZooKeeper so a restarted (or second) orchestrator knows
 * it. The supervisor reconciles toward it; the autoscaler sets it.
 */
import { clusterPaths } from '../protocol/names.ts';
import type { ZkClient } from './ZkClient.ts';

export class DesiredSlaves {
  private readonly path: string;

  constructor(
    private readonly zk: ZkClient,
    cluster: string,
  ) {
    this.path = clusterPaths(cluster).desiredSlaves;
  }

  async get(fallback: number): Promise<number> {
    const node = await this.zk.getDataIfExists<number>(this.path);
    return typeof node?.data === 'number' && node.data >= 0 ? node.data : fallback;
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
