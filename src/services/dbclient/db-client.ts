/**
 * The services' only way to the data: the database service's HTTP API (docs/database-api.md)
 * on one or more orchestrators (Orchestrators.ts picks one and moves to the next when it fails).
 * It gives reads read-your-writes by sending, as `minSeq`, the highest `seq` any of its own
 * writes was answered with, and makes a write retry safe by keeping its requestId, so a write
 * whose first answer was lost is applied once, whichever orchestrator the retry reaches.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { currentRequestId, writeIdFor } from '../../shared/request-context.ts';
import type { ReadQuery, Write } from './contract.ts';
import { readAnswerOf, writeAnswerOf, type DbReadResult, type DbWriteResult } from './answers.ts';
export type { DbReadResult, DbWriteResult } from './answers.ts';
export type { CallCredentials } from './Orchestrators.ts';
import { Orchestrators, type CallCredentials } from './Orchestrators.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

export interface DbClientOptions {
  /**
   * The orchestrators' base URLs, e.g. `["http://127.0.0.1:8000", "http://127.0.0.1:8001"]`
   * (config ORCHESTRATOR_URL, comma-separated). One serves at a time; the next takes over.
   */
  urls: string[];
  /** The `service` role's bearer token; none when the database service runs without authorization. */
  token?: string | undefined;
  /** Upper bound for one call, connection included (config HTTP_TIMEOUT_MS). */
  timeoutMs: number;
  /**
   * Keep-alive connections kept to the orchestrator, so at most this many calls in flight.
   * Default 64: the orchestrator and RabbitMQ spend less CPU per call when more calls overlap
   * (their AMQP writes are batched); measured with 16, a rides instance answered about three
   * quarters of the searches per second it answers with 64.
   */
  connections?: number;
  /** Calls sent on one connection ahead of the answers (HTTP/1.1 pipelining); default 1, none. */
  pipelining?: number;
  /** First pause before retrying a write that met a 503; it doubles up to 1 s. Default 200 ms. */
  retryDelayMs?: number;
  /**
   * How long a write keeps being retried (same requestId) after 503s, e.g. through a failover.
   * Default 10,000 ms. Every retry is safe: the master answers a request id it has already
   * applied with its first result, and never applies a write after that write's deadline.
   */
  writeRetryWindowMs?: number;
  /**
   * Ask every read for everything the orchestrator has acknowledged (`fresh: true`). Default true:
   * the two services see each other's writes (a user deleted through the users service takes
   * their rides along), and a client that got a 200 from one instance expects its next call,
   * wherever the gateway sends it, to see that write. `minSeq` alone only covers this client's
   * own writes.
   */
  freshReads?: boolean;
  logger?: Logger;
}

export class DbClient {
  readonly #orchestrators: Orchestrators;
  readonly #retryDelayMs: number;
  readonly #writeRetryWindowMs: number;
  readonly #logger: Logger | undefined;
  readonly #freshReads: boolean;
  #highestSeq = 0;

  constructor(options: DbClientOptions) {
    this.#orchestrators = new Orchestrators({
      urls: options.urls,
      token: options.token,
      timeoutMs: options.timeoutMs,
      connections: options.connections ?? 64,
      ...(options.pipelining === undefined ? {} : { pipelining: options.pipelining }),
      logger: options.logger,
    });
    this.#retryDelayMs = options.retryDelayMs ?? 200;
    this.#writeRetryWindowMs = options.writeRetryWindowMs ?? 10_000;
    this.#logger = options.logger;
    this.#freshReads = options.freshReads ?? true;
  }

  /** The highest write sequence number this client has seen acknowledged. */
  get highestSeq(): number {
    return this.#highestSeq;
  }

  async read(query: ReadQuery): Promise<DbReadResult> {
    const minSeq = Math.max(query.minSeq ?? 0, this.#highestSeq);
    const body: ReadQuery = { ...query };
    if (minSeq > 0) body.minSeq = minSeq;
    if (this.#freshReads) body.fresh = true;
    return checked(readAnswerOf(await this.#orchestrators.post('/api/v1/db/read', body)), 'read');
  }

  /**
   * `credentials`: the caller's instead of the service's own token, for what only an operator may
   * do (a delete of every row, which the database service keeps for the admin role).
   */
  async write(write: Write, credentials?: CallCredentials): Promise<DbWriteResult> {
    const request = { ...write, requestId: writeIdFor(currentRequestId()) };
    const answer = await this.#writeWithRetries(request, credentials);
    const result = checked(writeAnswerOf(answer), 'write');
    this.#highestSeq = Math.max(this.#highestSeq, result.seq);
    return result;
  }

  /**
   * A 503 leaves a write's outcome unknown (applied before its deadline, or not at all); the same
   * requestId sent again settles it, so the caller sees the write applied exactly once.
   */
  async #writeWithRetries(request: Write & { requestId: string }, credentials: CallCredentials | undefined): Promise<unknown> {
    const giveUpAt = monotonicNow() + this.#writeRetryWindowMs;
    for (let attempt = 1, delay = this.#retryDelayMs; ; attempt += 1, delay = Math.min(delay * 2, 1000)) {
      try {
        return await this.#orchestrators.post('/api/v1/db/write', request, credentials);
      } catch (error) {
        if (!(error instanceof RideShareError) || !error.retriable || monotonicNow() + delay >= giveUpAt) throw error;
        this.#logger?.warn({ requestId: request.requestId, code: error.code, attempt }, 'database write failed; retrying with the same requestId');
        await sleep(delay);
      }
    }
  }

  /** Empties every table (the orchestrator's db/clear); the services themselves delete by table. */
  async clear(): Promise<void> {
    await this.#orchestrators.post('/api/v1/db/clear', undefined);
  }

  /** Whether an orchestrator answers its health check now (the service's readiness). */
  reachable(): Promise<string | undefined> {
    return this.#orchestrators.firstHealthy();
  }

  async close(): Promise<void> {
    await this.#orchestrators.close();
  }
}

function checked<T>(answer: T | undefined, what: string): T {
  if (answer === undefined) throw new RideShareError('INTERNAL', `the database service answered a ${what} in an unexpected shape`);
  return answer;
}
