/**
 * Counts the db/read requests this orchestrator receives (nothing else counts for scaling) and
 * publishes its running total in ZooKeeper, so that the supervising orchestrator can add up the
 * reads of every orchestrator. Totals only grow; a window's reads are a difference of totals.
 */
import type { Logger } from '../../shared/logger.ts';
import { publishReadCount } from '../coordination/read-counts.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';

const PUBLISH_INTERVAL_MS = 200;

export class ReadCounter {
  private total = 0;
  private published = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly zk: ZkClient,
    private readonly cluster: string,
    readonly orchestratorId: string,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.publish(), PUBLISH_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.publish();
  }

  count(): void {
    this.total += 1;
  }

  /** Writes the total to ZooKeeper if it changed. */
  async publish(): Promise<void> {
    const total = this.total;
    if (total === this.published) return;
    try {
      await publishReadCount(this.zk, this.cluster, this.orchestratorId, total);
      this.published = total;
    } catch (error) {
      this.logger.warn({ err: error }, 'could not publish the read count');
    }
  }
}
