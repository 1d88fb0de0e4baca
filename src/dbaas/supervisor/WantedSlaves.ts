/**
 * How many slaves the supervisor keeps: the desired count stored in ZooKeeper (DesiredSlaves),
 * clamped to 0..MAX_SLAVES whoever wrote it. The clamp is the supervisor's, not the store's: the
 * autoscaler and the API never ask for more, and a stray writer must not start hundreds. A count
 * beyond the bounds is said once per value, not on every pass.
 */
import type { Logger } from '../../shared/logger.ts';
import { DesiredSlaves } from '../coordination/DesiredSlaves.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';

export interface WantedSlavesOptions {
  zk: ZkClient;
  cluster: string;
  /** The count of a new cluster, and of one whose stored count is missing or unreadable. */
  initialSlaves: number;
  /** MAX_SLAVES. */
  maxSlaves: number;
  logger: Logger;
}

export class WantedSlaves {
  private readonly desired: DesiredSlaves;
  /** The last out-of-bounds desired count logged, so a pass a second does not repeat it. */
  private clampedFrom: number | undefined;

  constructor(private readonly options: WantedSlavesOptions) {
    this.desired = new DesiredSlaves(options.zk, options.cluster);
  }

  /** The desired slaves from ZooKeeper, clamped to 0..MAX_SLAVES (and said so, once per value). */
  async get(): Promise<number> {
    const stored = await this.desired.get(this.options.initialSlaves);
    const wanted = Math.min(Math.max(stored, 0), this.options.maxSlaves);
    if (wanted !== stored && this.clampedFrom !== stored) {
      this.options.logger.warn({ stored, maxSlaves: this.options.maxSlaves, wanted }, 'desired slaves in ZooKeeper beyond MAX_SLAVES; keeping MAX_SLAVES');
    }
    this.clampedFrom = wanted === stored ? undefined : stored;
    return wanted;
  }

  set(count: number): Promise<void> {
    return this.desired.set(count);
  }

  /** A new cluster's count, stored only where none is yet. */
  initialise(): Promise<void> {
    return this.desired.initialise(this.options.initialSlaves);
  }
}
