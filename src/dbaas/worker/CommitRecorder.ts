/**
 * Group commit over ZooKeeper: the master's commit records (src/dbaas/coordination/commit-record.ts),
 * at most one in flight. A group confirmed by the broker asks for the record of every write up to
 * it; while a record is being written, every group confirmed meanwhile waits, and the next record
 * covers them all. A record refused (the epoch moved: this master is fenced) or not written within
 * its bound is final: the recorder fails, none of its waiters is ever released, and the master stops.
 */

export interface CommitRecorderOptions {
  /** Every write up to this seq is recorded already (a master's own first record). */
  recordedSeq: number;
  /** Writes the record for every write up to `seq`; rejects when refused or too slow. */
  record(seq: number): Promise<void>;
  /** Told once, of the first record that failed: the master must stop at once. */
  onFailure(error: unknown): void;
}

export class CommitRecorder {
  private recordedSeq: number;
  /** The highest seq someone waits for. */
  private wantedSeq: number;
  private inFlight = false;
  private failed = false;
  private waiters: { seq: number; release(): void }[] = [];

  constructor(private readonly options: CommitRecorderOptions) {
    this.recordedSeq = options.recordedSeq;
    this.wantedSeq = options.recordedSeq;
  }

  /** Every write up to this seq is recorded. */
  get recorded(): number {
    return this.recordedSeq;
  }

  /**
   * Resolves once every write up to `seq` (all of them confirmed by the broker) is recorded.
   * After a failure it never resolves: what waits on it is an answer that must never be given,
   * and the master is on its way out.
   */
  through(seq: number): Promise<void> {
    if (seq <= this.recordedSeq) return Promise.resolve();
    return new Promise((release) => {
      if (this.failed) return;
      this.waiters.push({ seq, release });
      this.wantedSeq = Math.max(this.wantedSeq, seq);
      this.writeNext();
    });
  }

  private writeNext(): void {
    if (this.inFlight || this.failed || this.wantedSeq <= this.recordedSeq) return;
    this.inFlight = true;
    const target = this.wantedSeq;
    this.options.record(target).then(
      () => {
        this.inFlight = false;
        if (this.failed) return;
        this.recordedSeq = target;
        const released = this.waiters.filter((waiter) => waiter.seq <= target);
        this.waiters = this.waiters.filter((waiter) => waiter.seq > target);
        for (const waiter of released) waiter.release();
        this.writeNext();
      },
      (error: unknown) => {
        this.inFlight = false;
        if (this.failed) return;
        this.failed = true;
        this.waiters = [];
        this.options.onFailure(error);
      },
    );
  }
}
