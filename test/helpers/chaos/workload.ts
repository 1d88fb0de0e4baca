/**
 * Concurrent writers and readers against the orchestrator while faults happen. Every logical
 * write inserts one ride whose `timestamp` is a marker no other write uses, so the checker can
 * tell, row by row, which acknowledged write is missing and which was applied twice. A write is
 * retried with its own request id until acknowledged, refused, or out of time; the ledger keeps
 * what each client was told, which is the only thing the service promised.
 */
import { call, isRetryable, sleep } from './client.ts';
import type { Random } from './prng.ts';

export interface WorkloadOptions {
  orchestratorUrl: string;
  random: Random;
  writers: number;
  readers: number;
  /** Prefix of the request ids and usernames, so two runs on one cluster never collide. */
  tag: string;
  /** How long one logical write is retried before it counts as unacknowledged. */
  writeDeadlineMs?: number;
  /** Per attempt; above the orchestrator's RPC timeout so its 503 arrives before ours. */
  attemptTimeoutMs?: number;
  /**
   * Per-attempt timeout of the odd-numbered writers. Shorter than a failover, so they give up and
   * resend while their first copy still waits in writeQ: the duplicates the request id must absorb.
   */
  impatientAttemptMs?: number;
  /** Pause between a writer's writes, so the clients leave CPU to the service on small machines. */
  pauseMs?: number;
}

export interface AckedWrite {
  requestId: string;
  writer: string;
  marker: number;
  seq: number;
  insertId: number;
  epoch: number;
  attempts: number;
  latencyMs: number;
}

export interface UnackedWrite {
  requestId: string;
  writer: string;
  marker: number;
  attempts: number;
  /** Last status seen (0: no answer); a 4xx means the service refused a valid write. */
  lastStatus: number;
  lastError: string;
}

export interface StaleRead {
  marker: number;
  minSeq: number;
  answeredSeq: number;
  rows: number;
}

export interface Ledger {
  writers: string[];
  acked: AckedWrite[];
  unacked: UnackedWrite[];
  /** Every marker issued, acknowledged or not: any other chaos marker in a replica is a phantom. */
  issued: Map<number, string>;
  writeStatuses: Record<string, number>;
  readStatuses: Record<string, number>;
  staleReads: StaleRead[];
}

const MARKER_BASE = 2_000_000_000;
const MARKERS_PER_WRITER = 1_000_000;

interface WriteAnswer {
  seq: number;
  insertId: number;
  epoch: number;
}

export class Workload {
  private running = false;
  private loops: Promise<void>[] = [];
  /** Each writer's next write number: its markers and request ids are numbered from it. */
  private readonly nextOf: number[] = [];
  readonly ledger: Ledger;

  constructor(private readonly options: WorkloadOptions) {
    this.ledger = {
      writers: Array.from({ length: options.writers }, (_, i) => `${options.tag}-w${i}`),
      acked: [],
      unacked: [],
      issued: new Map(),
      writeStatuses: {},
      readStatuses: {},
      staleReads: [],
    };
  }

  /** Creates the writers' users (retried like any write), then starts every client. */
  async start(): Promise<void> {
    for (const username of this.ledger.writers) {
      const outcome = await this.writeUntilDone({ op: 'insert', table: 'users', values: { username, password: 'p'.repeat(40) }, requestId: `${username}-user` });
      if (outcome.status !== 200) throw new Error(`could not create ${username}: ${outcome.status} ${outcome.error ?? JSON.stringify(outcome.body)}`);
    }
    this.running = true;
    this.loops = [
      ...this.ledger.writers.map((_, index) => this.writerLoop(index, this.options.random.fork(`writer-${index}`))),
      ...Array.from({ length: this.options.readers }, (_, index) => this.readerLoop(this.options.random.fork(`reader-${index}`))),
    ];
  }

  /** Stops issuing; a write in flight still finishes (acknowledged or out of time). */
  async stop(): Promise<Ledger> {
    this.running = false;
    await Promise.all(this.loops);
    return this.ledger;
  }

  /** One more write after the faults: the service must take writes again, and it is checked too. */
  async probe(): Promise<AckedWrite | UnackedWrite> {
    return this.writeRide(0, this.options.random.fork('probe'));
  }

  private async writerLoop(index: number, random: Random): Promise<void> {
    while (this.running) {
      await this.writeRide(index, random);
      if (this.options.pauseMs) await sleep(random.int(0, this.options.pauseMs));
    }
  }

  private async writeRide(index: number, random: Random): Promise<AckedWrite | UnackedWrite> {
    const n = this.nextOf[index] ?? 0;
    this.nextOf[index] = n + 1;
    const writer = this.ledger.writers[index] as string;
    const marker = MARKER_BASE + index * MARKERS_PER_WRITER + n;
    const requestId = `${this.options.tag}-w${index}-${n}`;
    this.ledger.issued.set(marker, requestId);
    const values = { created_by: writer, timestamp: marker, source: random.int(1, 198), destination: random.int(1, 198) };
    const started = Date.now();
    const impatient = index % 2 === 1 ? this.options.impatientAttemptMs : undefined;
    const { outcome, attempts } = await this.writeWithRetries({ op: 'insert', table: 'rides', values, requestId }, impatient);
    if (outcome.status === 200) {
      const answer = outcome.body as WriteAnswer;
      const acked: AckedWrite = { requestId, writer, marker, seq: answer.seq, insertId: answer.insertId, epoch: answer.epoch, attempts, latencyMs: Date.now() - started };
      this.ledger.acked.push(acked);
      return acked;
    }
    const unacked: UnackedWrite = { requestId, writer, marker, attempts, lastStatus: outcome.status, lastError: outcome.error ?? JSON.stringify(outcome.body) };
    this.ledger.unacked.push(unacked);
    return unacked;
  }

  private async writeUntilDone(body: unknown) {
    return (await this.writeWithRetries(body)).outcome;
  }

  private async writeWithRetries(body: unknown, attemptTimeoutMs = this.options.attemptTimeoutMs ?? 8000) {
    const deadline = Date.now() + (this.options.writeDeadlineMs ?? 30_000);
    for (let attempts = 1; ; attempts += 1) {
      const outcome = await call<WriteAnswer>('POST', `${this.options.orchestratorUrl}/api/v1/db/write`, body, attemptTimeoutMs);
      count(this.ledger.writeStatuses, outcome.status);
      if (!isRetryable(outcome.status) || Date.now() > deadline) return { outcome, attempts };
      // Short backoff: long enough not to spin on a refused port, short enough to measure failover.
      await sleep(Math.min(50 * attempts, 250));
    }
  }

  private async readerLoop(random: Random): Promise<void> {
    while (this.running) {
      const acked = this.ledger.acked;
      const recent = acked.length > 0 ? acked[random.int(Math.max(0, acked.length - 50), acked.length - 1)] : undefined;
      if (recent && random.next() < 0.5) await this.readOwnWrite(recent);
      else await this.readRoute(random);
      await sleep(random.int(0, 20));
    }
  }

  private async readRoute(random: Random): Promise<void> {
    const outcome = await call('POST', `${this.options.orchestratorUrl}/api/v1/db/read`, {
      table: 'rides',
      where: { source: random.int(1, 198) },
      limit: 10,
    }, 8000);
    count(this.ledger.readStatuses, outcome.status);
  }

  /** minSeq promises the write: a 200 without its row is a stale read, whatever the faults. */
  private async readOwnWrite(write: AckedWrite): Promise<void> {
    const outcome = await call<{ rows: unknown[]; seq: number }>('POST', `${this.options.orchestratorUrl}/api/v1/db/read`, {
      table: 'rides',
      where: { timestamp: write.marker },
      minSeq: write.seq,
    }, 8000);
    count(this.ledger.readStatuses, outcome.status);
    if (outcome.status !== 200 || !outcome.body) return;
    const { rows, seq } = outcome.body;
    if (rows.length !== 1 || seq < write.seq) this.ledger.staleReads.push({ marker: write.marker, minSeq: write.seq, answeredSeq: seq, rows: rows.length });
  }
}

function count(counts: Record<string, number>, status: number): void {
  const key = status === 0 ? 'no answer' : String(status);
  counts[key] = (counts[key] ?? 0) + 1;
}
