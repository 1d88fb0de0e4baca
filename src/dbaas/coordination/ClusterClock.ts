/**
 * The one clock every process of a cluster reads a deadline on: the ZooKeeper ensemble's.
 *
 * A command carries its caller's deadline, and whoever receives it (a worker on another host)
 * compares that deadline with its own clock. Two hosts' wall clocks may differ by seconds or more
 * (no NTP, or a step), and then a receiver ahead refuses every command as expired and one behind
 * applies a write after its caller was answered 503. So every process reads time as the
 * ensemble does instead: each write to ZooKeeper comes back with the time the ensemble's leader
 * gave it (the znode's mtime), and the process writes a znode of the cluster's now and then,
 * noting its own monotonic clock before and after. The leader gave the write its time somewhere
 * between the two, so the ensemble's clock is this process's monotonic clock plus an offset known
 * to within half the round trip; the sample with the shortest round trip among the last few is
 * kept. Between samples the time moves with the monotonic clock, so a step of this host's wall
 * clock changes nothing; a step of the leader's clock reaches every process within a few samples.
 *
 * Until its first sample (ZooKeeper not yet connected) a process reads its own wall clock.
 */
import type { Logger } from '../../shared/logger.ts';
import type { ZkClient } from './ZkClient.ts';

/** Where a deadline is read: ms since the epoch. */
export interface Clock {
  now(): number;
}

/** This host's wall clock: for a process without ZooKeeper (tools, tests). */
export const WALL_CLOCK: Clock = { now: () => Date.now() };

/** How often a process samples the ensemble's clock: one small write per process this often. */
const CLOCK_SAMPLE_MS = 2000;
/** Samples kept; the best of them counts. A step of the leader's clock takes this many to win over. */
const SAMPLES_KEPT = 3;
/** A sample whose round trip took longer says too little (a loaded machine, a retry): left out. */
const MAX_USEFUL_ROUND_TRIP_MS = 1000;
/** A change of the offset this large is a clock step somewhere: logged. */
const STEP_WORTH_LOGGING_MS = 1000;

interface Sample {
  /** Ensemble time minus this process's monotonic time. */
  offset: number;
  roundTripMs: number;
}

export class ClusterClock implements Clock {
  /** Until the first sample: the wall clock, as an offset from the monotonic one. */
  private offset = Date.now() - performance.now();
  private samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sampling = false;
  private zk: ZkClient | undefined;

  constructor(
    /** A persistent znode of the cluster that every process may write (clusterPaths().clock). */
    private readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** Whole ms, as a deadline travels in a message header and an AMQP expiration. */
  now(): number {
    return Math.round(performance.now() + this.offset);
  }

  /** Ensemble time is read through `zk` from now on: a first sample now (bounded), then one every CLOCK_SAMPLE_MS. */
  async start(zk: ZkClient): Promise<void> {
    if (this.timer) return;
    this.zk = zk;
    this.timer = setInterval(() => void this.sample(), CLOCK_SAMPLE_MS);
    this.timer.unref();
    await zk.ensurePath(this.path).catch(() => undefined);
    await this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sample; a failure (no ZooKeeper now) keeps the offset as it is. */
  private async sample(): Promise<void> {
    const zk = this.zk;
    if (this.sampling || !zk) return;
    this.sampling = true;
    try {
      const before = performance.now();
      const stamped = await zk.stampedSet(this.path, null, MAX_USEFUL_ROUND_TRIP_MS);
      const after = performance.now();
      const roundTripMs = after - before;
      if (roundTripMs > MAX_USEFUL_ROUND_TRIP_MS) return;
      this.samples = [...this.samples, { offset: stamped - (before + after) / 2, roundTripMs }].slice(-SAMPLES_KEPT);
      const best = this.samples.reduce((a, b) => (b.roundTripMs < a.roundTripMs ? b : a));
      const moved = best.offset - this.offset;
      if (Math.abs(moved) >= STEP_WORTH_LOGGING_MS)
        this.logger.info({ movedMs: Math.round(moved), roundTripMs: Math.round(best.roundTripMs) }, 'the cluster clock differs from what this process read so far');
      this.offset = best.offset;
    } catch {
      // ZooKeeper is unreachable for now: the last offset holds, and the next tick tries again.
    } finally {
      this.sampling = false;
    }
  }
}
