/**
 * The desired number of slaves, kept in ZooKeeper so a restarted (or second) orchestrator knows
 * it. The supervisor reconciles toward it; the autoscaler sets it.
 */
import { isZkError, ZkErrorCode, type ZkClient } from '../coordination/ZkClient.ts';
import { clusterPaths } from '../protocol/names.ts';

export class DesiredSlaves {
  private readonly path: string;

  constructor(
    private readonly zk: ZkClient,
    cluster: string,
  ) {
    this.path = clusterPaths(cluster).desiredSlaves;
  }

  async get(fallback: number): Promise<number> {
    try {
      const { data } = await this.zk.getData<number>(this.path);
      return typeof data === 'number' && data >= 0 ? data : fallback;
    } catch (error) {
      if (isZkError(error, ZkErrorCode.NO_NODE)) return fallback;
      throw error;
    }
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
