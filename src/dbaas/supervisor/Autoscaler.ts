/**
 * Sets the desired number of slaves from the read load. The clock starts at the first db/read
 * (of any orchestrator); at the end of every window the reads counted in it decide:
 * max(1, ceil(reads / readsPerSlave)), capped at maxSlaves. Every decision is logged and kept
 * in a short history for operators (GET /api/v1/scaling).
 */
import type { Logger } from '../../shared/logger.ts';
import { totalReads } from '../coordination/read-counts.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import type { SupervisionJournal } from './SupervisionJournal.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

const HISTORY_LENGTH = 50;
/** How often the clock looks for the first read of another orchestrator. */
const FIRST_READ_POLL_MS = 250;

export interface ScalingDecision {
  window: number;
  windowStart: string;
  windowEnd: string;
  reads: number;
  slavesBefore: number;
  slavesAfter: number;
  reason: string;
}

export interface AutoscalerOptions {
  zk: ZkClient;
  cluster: string;
  windowMs: number;
  readsPerSlave: number;
  maxSlaves: number;
  /** Publishes this orchestrator's own count first, so none of its reads is late for a window. */
  flushLocalCount(): Promise<void>;
  currentDesired(): Promise<number>;
  setDesired(count: number): Promise<void>;
  journal: SupervisionJournal;
  logger: Logger;
}

export function slavesFor(reads: number, readsPerSlave: number, maxSlaves: number): number {
  return Math.min(maxSlaves, Math.max(1, Math.ceil(reads / readsPerSlave)));
}

export class Autoscaler {
  private readonly history: ScalingDecision[] = [];
  private windowStart: number | undefined;
  private countedSoFar = 0;
  private windowNumber = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Only the supervising orchestrator's autoscaler runs; a standby's ignores reads. */
  private started = false;

  constructor(private readonly options: AutoscalerOptions) {}

  /**
   * Reads counted before now (an earlier orchestrator's) are not this clock's; then it waits for
   * the first read and runs windows back to back.
   */
  async start(): Promise<void> {
    this.started = true;
    this.countedSoFar = await this.totalReads();
    this.timer = setTimeout(() => void this.waitForFirstRead(), FIRST_READ_POLL_MS);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  decisions(): ScalingDecision[] {
    return [...this.history];
  }

  get clockStartedAt(): number | undefined {
    return this.windowStart;
  }

  /** Called by the local read path so the clock starts with no polling delay. */
  noticeRead(): void {
    if (!this.started || this.windowStart !== undefined || this.stopped) return;
    clearTimeout(this.timer);
    this.begin(monotonicNow());
  }

  private async waitForFirstRead(): Promise<void> {
    if (this.stopped || this.windowStart !== undefined) return;
    const total = await this.totalReads().catch(() => this.countedSoFar);
    if (this.windowStart !== undefined) return;
    if (total > this.countedSoFar) return this.begin(monotonicNow());
    this.timer = setTimeout(() => void this.waitForFirstRead(), FIRST_READ_POLL_MS);
  }

  private begin(at: number): void {
    this.windowStart = at;
    this.options.logger.info({ windowMs: this.options.windowMs }, 'first db/read: the scaling clock starts');
    this.scheduleWindowEnd();
  }

  private scheduleWindowEnd(): void {
    if (this.stopped || this.windowStart === undefined) return;
    const end = this.windowStart + this.options.windowMs;
    this.timer = setTimeout(() => void this.endWindow(end), Math.max(0, end - monotonicNow()));
  }

  private async endWindow(end: number): Promise<void> {
    const start = this.windowStart as number;
    try {
      await this.options.flushLocalCount();
      const total = await this.totalReads();
      const reads = Math.max(0, total - this.countedSoFar);
      this.countedSoFar = total;
      const before = await this.options.currentDesired();
      const after = slavesFor(reads, this.options.readsPerSlave, this.options.maxSlaves);
      const capped = Math.max(1, Math.ceil(reads / this.options.readsPerSlave)) > this.options.maxSlaves;
      const reason = capped
        ? `${reads} reads would need ${Math.ceil(reads / this.options.readsPerSlave)} slaves; capped at MAX_SLAVES=${this.options.maxSlaves}`
        : `${reads} reads / ${this.options.readsPerSlave} per slave → ${after}`;
      this.windowNumber += 1;
      const decision: ScalingDecision = {
        window: this.windowNumber,
        windowStart: new Date(start).toISOString(),
        windowEnd: new Date(end).toISOString(),
        reads,
        slavesBefore: before,
        slavesAfter: after,
        reason,
      };
      this.history.push(decision);
      if (this.history.length > HISTORY_LENGTH) this.history.shift();
      this.options.logger.info(decision, 'scaling decision');
      // Every window stays in this autoscaler's own history (GET /api/v1/scaling); the cluster's
      // history keeps the changes only, so a steady cluster does not push its failovers out of it.
      if (after !== before) this.options.journal.record({ kind: 'scaling', reads, slavesBefore: before, slavesAfter: after, reason });
      if (after !== before) await this.options.setDesired(after);
    } catch (error) {
      this.options.logger.error({ err: error }, 'scaling window failed');
    }
    this.windowStart = end;
    this.scheduleWindowEnd();
  }

  private totalReads(): Promise<number> {
    return totalReads(this.options.zk, this.options.cluster);
  }
}
