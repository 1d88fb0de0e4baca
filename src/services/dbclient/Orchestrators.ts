/**
 * The orchestrators a service may call, one keep-alive pool each. Calls go to the one that
 * answered last; when it cannot be reached, fails on the way, is draining for a restart, or
 * answers that it lost the broker, the call moves to the next one at once. Moving on is always
 * safe: reads change nothing, and a write carries its requestId, which the master applies once.
 */
import { TIME_BUDGET_HEADER } from '../../shared/http/time-budget.ts';
import { Pool } from 'undici';
import { RideShareError, UnavailableError } from '../../shared/errors.ts';
import { DRAINING_HEADER } from '../../shared/http/drain.ts';
import type { Logger } from '../../shared/logger.ts';
import { requestIdHeaders } from '../../shared/request-context.ts';
import { errorFromAnswer, errorFromTransport } from './db-errors.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

/** Shorter than an orchestrator's drain, so no idle connection outlives it (src/shared/http/drain.ts). */
const KEEP_ALIVE_MAX_MS = 1000;
const HEALTH_TIMEOUT_MS = 1000;

export interface OrchestratorsOptions {
  urls: string[];
  /** Sent as `Authorization: Bearer …` with every call. */
  token?: string | undefined;
  /** Upper bound for one call, all orchestrators tried included. */
  timeoutMs: number;
  /** Keep-alive connections per orchestrator. */
  connections: number;
  /** Calls sent on one connection before the first is answered (HTTP/1.1 pipelining); 1: none. At most connections × pipelining calls are in flight to each orchestrator. */
  pipelining?: number;
  logger?: Logger;
}

interface Endpoint {
  url: string;
  basePath: string;
  pool: Pool;
}

/** Whose credentials a call carries: the service's own token, or those its caller presented (an operator's). */
export interface CallCredentials {
  /** The caller's `Authorization` header as it came, or none: then the call carries no credentials at all. */
  callerAuthorization: string | undefined;
}

interface Answer {
  status: number;
  body: unknown;
  draining: boolean;
}

export class Orchestrators {
  readonly #endpoints: Endpoint[];
  readonly #timeoutMs: number;
  readonly #logger: Logger | undefined;
  readonly #authorization: Record<string, string>;
  #preferred = 0;

  constructor(options: OrchestratorsOptions) {
    if (options.urls.length === 0) throw new RideShareError('INVARIANT', 'at least one orchestrator URL is needed');
    this.#timeoutMs = options.timeoutMs;
    this.#logger = options.logger;
    this.#authorization = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
    this.#endpoints = options.urls.map((address) => {
      const url = new URL(address);
      const pool = new Pool(url.origin, {
        connections: options.connections,
        pipelining: options.pipelining ?? 1,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        connectTimeout: options.timeoutMs,
        keepAliveMaxTimeout: KEEP_ALIVE_MAX_MS,
      });
      return { url: address, basePath: url.pathname.replace(/\/+$/, ''), pool };
    });
  }

  /** POSTs to the preferred orchestrator, then to the others in turn; resolves with the 200 answer's body. */
  async post(path: string, body: unknown, credentials?: CallCredentials): Promise<unknown> {
    const deadline = monotonicNow() + this.#timeoutMs;
    const count = this.#endpoints.length;
    let failure: RideShareError | undefined;
    for (let attempt = 0; attempt < count; attempt += 1) {
      const index = (this.#preferred + attempt) % count;
      const endpoint = this.#endpoints[index] as Endpoint;
      const remaining = deadline - monotonicNow();
      if (remaining <= 0) break;
      const last = attempt === count - 1;
      let answer: Answer;
      try {
        answer = await this.#send(endpoint, path, body, remaining, credentials);
      } catch (error) {
        failure = errorFromTransport(error);
        // A timeout has spent the budget; anything else (refused, reset) is worth the next one.
        if (failure.code === 'TIMEOUT' || last) throw failure;
        this.#logger?.warn({ orchestrator: endpoint.url, code: failure.code, reason: failure.message }, 'orchestrator failed; trying the next');
        continue;
      }
      const refused = answer.status === 200 ? undefined : errorFromAnswer(answer.status, answer.body, credentials ? 'caller' : 'service');
      // UNAVAILABLE: this orchestrator cannot reach the broker or is stopping; TIMEOUT is the workers', the same everywhere.
      if (refused?.code === 'UNAVAILABLE' && !last) {
        failure = refused;
        continue;
      }
      this.#preferred = answer.draining ? (index + 1) % count : index;
      if (refused) throw refused;
      return answer.body;
    }
    throw failure ?? new UnavailableError(`the database service call failed: no orchestrator answered within ${this.#timeoutMs} ms`);
  }

  /** The first orchestrator whose /health answers now, or undefined. */
  async firstHealthy(): Promise<string | undefined> {
    for (const endpoint of this.#endpoints) {
      try {
        const response = await endpoint.pool.request({ method: 'GET', path: `${endpoint.basePath}/health`, signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
        await response.body.dump();
        if (response.statusCode === 200) return endpoint.url;
      } catch {
        // The next one, then.
      }
    }
    return undefined;
  }

  async close(): Promise<void> {
    await Promise.all(this.#endpoints.map((endpoint) => endpoint.pool.close()));
  }

  async #send(endpoint: Endpoint, path: string, body: unknown, timeoutMs: number, credentials: CallCredentials | undefined): Promise<Answer> {
    const authorization = credentials ? callerHeaders(credentials) : this.#authorization;
    const response = await endpoint.pool.request({
      method: 'POST',
      path: `${endpoint.basePath}${path}`,
      headers: {
        ...authorization,
        ...requestIdHeaders(),
        // A write's deadline falls within what this call waits: once it gives up, the write cannot land.
        [TIME_BUDGET_HEADER]: String(Math.max(1, Math.floor(timeoutMs))),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      // undici pipelines only calls marked safe to repeat: a read changes nothing, and a write carries its requestId.
      idempotent: true,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: parseJsonOrText(text), draining: response.headers[DRAINING_HEADER] !== undefined };
  }
}

function callerHeaders(credentials: CallCredentials): Record<string, string> {
  return credentials.callerAuthorization === undefined ? {} : { authorization: credentials.callerAuthorization };
}

function parseJsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { error: text.slice(0, 200) };
  }
}
