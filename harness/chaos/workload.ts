/**
 * Concurrent writers and readers against the orchestrator while faults happen. Every logical
 * write inserts one ride whose `timestamp` is a marker no other write uses, so the checker can
 * tell, row by row, which acknowledged write is missing and which was applied twice. A write is
 * retried with its own request id until acknowledged, refused, or out of time; the ledger keeps
 * what each client was told, which is the only thing the service promised.
 */
import { call, isRetryable, type Outcome } from './client.ts';
import { sleep } from '../../src/shared/timeout.ts';
import type { Random } from './prng.ts';

export interface WorkloadOptions {
  orchestratorUrl: string;
  /**
   * Several orchestrators (the ones up right now): calls go round-robin over them and a retry
   * goes to the next one, as a client behind a load balancer would see it. Overrides orchestratorUrl.
   */
  orchestratorUrls?: () => string[];
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
  /**
   * The last `giveUpWriters` writers never retry: a write whose one attempt is not answered 200
   * is abandoned. A 503 then carries a deadline the checker can hold the service to: the write
   * must be absent or applied before the 503 was sent, never after.
   */
  giveUpWriters?: number;
  /** Chance that a writer reads its own write back (minSeq = the seq it was answered) right after the ack. */
  ownReads?: number;
  /** A writer of its own for probe(), so probes never interleave with a writer's sequential writes. */
  probeWriter?: boolean;
  /**
   * Every write carries this one X-Request-Id (as some clients, proxies and SDKs send), and the
   * give-up writers, which never retry, send no requestId of their own: the service must still
   * apply each of their writes once, never take one for another.
   */
  sharedRequestId?: string;
  /** Sent with every call: a service's bearer token, for a database service that checks it (a deployment started with `npm start`). */
  headers?: Record<string, string>;
}

/** One HTTP attempt of a write, on the test process's clock. */
export interface AttemptRecord {
  sentAt: number;
  endedAt: number;
  /** 0: no answer (refused, reset, our own timeout). */
  status: number;
}

/** What a write asked to store besides its writer and marker: the checker compares it with every replica's row. */
export interface SentRoute {
  source: number;
  destination: number;
}

export interface AckedWrite {
  requestId: string;
  writer: string;
  marker: number;
  sent: SentRoute;
  seq: number;
  insertId: number;
  epoch: number;
  attempts: number;
  latencyMs: number;
  /** The writer's own count: its writes are issued one after another in this order. */
  sequence: number;
  issuedAt: number;
  attemptLog: AttemptRecord[];
}

export interface UnackedWrite {
  requestId: string;
  writer: string;
  marker: number;
  sent: SentRoute;
  attempts: number;
  /** Last status seen (0: no answer); a 4xx means the service refused a valid write. */
  lastStatus: number;
  lastError: string;
  sequence: number;
  issuedAt: number;
  attemptLog: AttemptRecord[];
  /** A give-up writer's write: abandoned after its first failed attempt. */
  gaveUp: boolean;
}

export interface StaleRead {
  marker: number;
  minSeq: number;
  answeredSeq: number;
  rows: number;
  /** Set when the writer itself read its own write back (read-your-writes in the strict sense). */
  client?: string;
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
  /** Reads with minSeq answered 200 and checked (by readers and by writers of their own writes). */
  checkedReads: number;
  /** The first few answers of each failing status ("write 500", "read no answer"), as evidence. */
  samples: Record<string, string[]>;
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
  private nextUrl = 0;
  readonly ledger: Ledger;

  constructor(private readonly options: WorkloadOptions) {
    // The probe writer, when asked for, is one more writer without a loop of its own.
    const writers = options.writers + (options.probeWriter ? 1 : 0);
    this.ledger = {
      writers: Array.from({ length: writers }, (_, i) => `${options.tag}-w${i}`),
      acked: [],
      unacked: [],
      issued: new Map(),
      writeStatuses: {},
      readStatuses: {},
      staleReads: [],
      checkedReads: 0,
      samples: {},
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
      ...Array.from({ length: this.options.writers }, (_, index) => this.writerLoop(index, this.options.random.fork(`writer-${index}`))),
      ...Array.from({ length: this.options.readers }, (_, index) => this.readerLoop(this.options.random.fork(`reader-${index}`))),
    ];
  }

  /** Stops issuing; a write in flight still finishes (acknowledged or out of time). */
  async stop(): Promise<Ledger> {
    this.running = false;
    await Promise.all(this.loops);
    return this.ledger;
  }

  /**
   * One more write: after the faults (the service must take writes again), or while healing (the
   * first one acknowledged ends the outage). Checked like every other write. Probes must not
   * overlap: the probe writer's writes are sequential too.
   */
  async probe(options: RetryPolicy = {}): Promise<AckedWrite | UnackedWrite> {
    const index = this.options.probeWriter ? this.options.writers : 0;
    return this.writeRide(index, this.options.random.fork(`probe-${this.nextOf[index] ?? 0}`), options);
  }

  private async writerLoop(index: number, random: Random): Promise<void> {
    const givesUp = index >= this.options.writers - (this.options.giveUpWriters ?? 0);
    while (this.running) {
      const write = await this.writeRide(index, random, givesUp ? { maxAttempts: 1 } : {});
      if ('seq' in write && this.options.ownReads && random.next() < this.options.ownReads) await this.readOwnWrite(write, write.writer);
      if (this.options.pauseMs) await sleep(random.int(0, this.options.pauseMs));
    }
  }

  private async writeRide(index: number, random: Random, policy: RetryPolicy = {}): Promise<AckedWrite | UnackedWrite> {
    const n = this.nextOf[index] ?? 0;
    this.nextOf[index] = n + 1;
    const writer = this.ledger.writers[index] as string;
    const marker = MARKER_BASE + index * MARKERS_PER_WRITER + n;
    const requestId = `${this.options.tag}-w${index}-${n}`;
    this.ledger.issued.set(marker, requestId);
    const values = { created_by: writer, timestamp: marker, source: random.int(1, 198), destination: random.int(1, 198) };
    const started = Date.now();
    const impatient = index % 2 === 1 ? this.options.impatientAttemptMs : undefined;
    // Without a requestId of its own a write is keyed by the service alone: only a write never retried may go so.
    const keyless = this.options.sharedRequestId !== undefined && policy.maxAttempts === 1 && index < this.options.writers;
    const body = keyless ? { op: 'insert', table: 'rides', values } : { op: 'insert', table: 'rides', values, requestId };
    const { outcome, attempts, attemptLog } = await this.writeWithRetries(body, { attemptTimeoutMs: impatient, ...policy });
    const history = { sequence: n, issuedAt: started, attemptLog };
    if (outcome.status === 200) {
      const answer = outcome.body as WriteAnswer;
      const acked: AckedWrite = {
        requestId,
        writer,
        marker,
        sent: { source: values.source, destination: values.destination },
        seq: answer.seq,
        insertId: answer.insertId,
        epoch: answer.epoch,
        attempts,
        latencyMs: Date.now() - started,
        ...history,
      };
      this.ledger.acked.push(acked);
      return acked;
    }
    const gaveUp = policy.maxAttempts === 1;
    const unacked: UnackedWrite = {
      requestId,
      writer,
      marker,
      sent: { source: values.source, destination: values.destination },
      attempts,
      lastStatus: outcome.status,
      lastError: outcome.error ?? JSON.stringify(outcome.body),
      ...history,
      gaveUp,
    };
    this.ledger.unacked.push(unacked);
    return unacked;
  }

  private async writeUntilDone(body: unknown) {
    return (await this.writeWithRetries(body)).outcome;
  }

  private async writeWithRetries(body: unknown, policy: RetryPolicy = {}) {
    const attemptTimeoutMs = policy.attemptTimeoutMs ?? this.options.attemptTimeoutMs ?? 8000;
    const deadline = Date.now() + (policy.deadlineMs ?? this.options.writeDeadlineMs ?? 30_000);
    const attemptLog: AttemptRecord[] = [];
    for (let attempts = 1; ; attempts += 1) {
      const sentAt = Date.now();
      const headers = this.options.sharedRequestId !== undefined ? { ...this.options.headers, 'x-request-id': this.options.sharedRequestId } : this.options.headers;
      const outcome = await call<WriteAnswer>('POST', `${this.url()}/api/v1/db/write`, body, attemptTimeoutMs, headers);
      attemptLog.push({ sentAt, endedAt: Date.now(), status: outcome.status });
      count(this.ledger.writeStatuses, outcome.status);
      this.sample('write', outcome);
      if (!isRetryable(outcome.status) || Date.now() > deadline || attempts >= (policy.maxAttempts ?? Infinity)) return { outcome, attempts, attemptLog };
      // Short backoff: long enough not to spin on a refused port, short enough to measure failover.
      await sleep(Math.min(50 * attempts, 250));
    }
  }

  private sample(what: 'read' | 'write', outcome: Outcome): void {
    if (outcome.status === 200) return;
    const key = `${what} ${outcome.status === 0 ? 'no answer' : outcome.status}`;
    const list = this.ledger.samples[key] ?? [];
    this.ledger.samples[key] = list;
    if (list.length < 3) list.push(outcome.error ?? JSON.stringify(outcome.body));
  }

  /** Round-robin over the orchestrators that are up; consecutive attempts go to different ones. */
  private url(): string {
    const urls = this.options.orchestratorUrls?.() ?? [];
    if (urls.length === 0) return this.options.orchestratorUrl;
    this.nextUrl = (this.nextUrl + 1) % urls.length;
    return urls[this.nextUrl] as string;
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
    const outcome = await call(
      'POST',
      `${this.url()}/api/v1/db/read`,
      {
        table: 'rides',
        where: { source: random.int(1, 198) },
        limit: 10,
      },
      8000,
      this.options.headers,
    );
    count(this.ledger.readStatuses, outcome.status);
    this.sample('read', outcome);
  }

  /**
   * minSeq promises the write: a 200 without its row is a stale read, whatever the faults. With
   * `client`, the writer itself reads back what it was just told was written.
   */
  private async readOwnWrite(write: AckedWrite, client?: string): Promise<void> {
    const outcome = await call<{ rows: unknown[]; seq: number }>(
      'POST',
      `${this.url()}/api/v1/db/read`,
      {
        table: 'rides',
        // Markers repeat across workloads on one cluster (each numbers its writers from 0): the writer tells them apart.
        where: { timestamp: write.marker, created_by: write.writer },
        minSeq: write.seq,
      },
      8000,
      this.options.headers,
    );
    count(this.ledger.readStatuses, outcome.status);
    this.sample('read', outcome);
    if (outcome.status !== 200 || !outcome.body) return;
    this.ledger.checkedReads += 1;
    const { rows, seq } = outcome.body;
    if (rows.length !== 1 || seq < write.seq) this.ledger.staleReads.push({ marker: write.marker, minSeq: write.seq, answeredSeq: seq, rows: rows.length, ...(client ? { client } : {}) });
  }
}

export interface RetryPolicy {
  attemptTimeoutMs?: number | undefined;
  deadlineMs?: number;
  /** 1: the give-up writers' policy (and a healing probe's): no retry at all. */
  maxAttempts?: number;
}

function count(counts: Record<string, number>, status: number): void {
  const key = status === 0 ? 'no answer' : String(status);
  counts[key] = (counts[key] ?? 0) + 1;
}
