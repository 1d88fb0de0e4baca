/**
 * What every HTTP server tells about the requests it answers: a request id (taken from a valid
 * `X-Request-Id`, else made here) returned in the response's `X-Request-Id` and kept in the
 * request context for the next hop; one access log line per request at info (a slow one at warn,
 * always); and request counts and latencies by route and status at `GET /metrics`. Failed
 * requests are logged by the error handler (src/shared/http/errors.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Histogram, LATENCY_BUCKETS, type Registry } from '../metrics.ts';
import type { Logger } from '../logger.ts';
import { accessLoggerOf } from '../access-log.ts';
import { loggedUrl } from './logged-url.ts';
import { defineResource } from './resource.ts';
import { REQUEST_ID_HEADER, runInRequest } from '../request-context.ts';

export const METRICS_PATH = '/metrics';

/** What a server tells about its requests beyond the request id (config ACCESS_LOG, METRICS). */
export interface ObservabilitySettings {
  /** One info line per request. */
  accessLog: boolean;
  /** Request counts and latencies, and `GET /metrics`. */
  metrics: boolean;
}

export const FULL_OBSERVABILITY: ObservabilitySettings = { accessLog: true, metrics: true };

export interface ObservabilityOptions extends ObservabilitySettings {
  /** The server's logger: access lines go straight to it, with the request id as a field. */
  logger: Logger;
  registry: Registry;
}

/** A request answered after this long is logged at warn whatever the access log setting. */
export const SLOW_REQUEST_MS = 1000;

/** Health checks and scrapes are not traffic: counted, never logged. */
const QUIET_PATHS = new Set(['/health', '/ready', METRICS_PATH]);

function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'unmatched';
}

/** One answered request, as the access line and the metrics tell it. */
export interface AnsweredRequest {
  requestId: string;
  method: string;
  /** The matched route template, or `unmatched`. */
  route: string;
  url: string;
  status: number;
  elapsedMs: number;
}

/** Counts and logs one answered request; the fastify hook and the front door (front-door.ts) both report here. */
export type RequestObserver = (answered: AnsweredRequest) => void;

/**
 * Sets the request id on every answer and reports every answered request; returns the reporter
 * for requests answered ahead of fastify. `requestContext`: whether handlers find the request id
 * in the request context (request-context.ts); a server whose handlers are given it explicitly
 * saves the cost AsyncLocalStorage adds to every promise.
 */
export function installObservability(app: FastifyInstance, options: ObservabilityOptions & { requestContext?: boolean }): RequestObserver {
  const inContext = options.requestContext ?? true;
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    if (inContext) runInRequest(request.id, done);
    else done();
  });
  const observe = requestObserver(app, options);
  // One callback hook for all of it: the hot path of every request.
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    observe({ requestId: request.id, method: request.method, route: routeOf(request), url: request.url, status: reply.statusCode, elapsedMs: reply.elapsedTime });
    done();
  });
  return observe;
}

function requestObserver(app: FastifyInstance, options: ObservabilityOptions): RequestObserver {
  const count = options.metrics ? requestMetrics(app, options.registry) : undefined;
  const { accessLog, logger } = options;
  // Without redaction, and batched when it goes to standard output (src/shared/access-log.ts);
  // a slow request's line goes through the server's own logger, at once.
  const access = accessLoggerOf(logger);
  return ({ requestId, method, route, url, status, elapsedMs }) => {
    count?.(method, route, status, elapsedMs);
    if (QUIET_PATHS.has(route)) return;
    const slow = elapsedMs >= SLOW_REQUEST_MS;
    // A slow request is told at warn, so it shows with the access log off or a quieter level.
    if (slow || (accessLog && logger.isLevelEnabled('info'))) {
      const line = { reqId: requestId, method, url: loggedUrl(url), status, ms: Math.round(elapsedMs * 10) / 10 };
      if (slow) logger.warn(line, 'slow request');
      else access.info(line, 'request');
    }
  };
}

type CountRequest = (method: string, route: string, status: number, elapsedMs: number) => void;

function requestMetrics(app: FastifyInstance, registry: Registry): CountRequest {
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({ name: 'rideshare_http_requests_total', help: 'HTTP requests answered, by route and status', labelNames, registers: [registry] });
  const latency = new Histogram({
    name: 'rideshare_http_request_duration_seconds',
    help: 'Time from the request to its answer, by route and status',
    labelNames,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  defineResource(app, METRICS_PATH, {
    GET: async (_request, reply) => {
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  });
  // Each (method, route, status) is looked up in prom-client's label maps once, then kept.
  const children = new Map<string, { requests: { inc(): void }; latency: { observe(seconds: number): void } }>();
  return (method, route, status, elapsedMs) => {
    const key = `${method} ${status} ${route}`;
    let child = children.get(key);
    if (child === undefined) {
      const labels = { method, route, status: String(status) };
      child = { requests: requests.labels(labels), latency: latency.labels(labels) };
      children.set(key, child);
    }
    child.requests.inc();
    child.latency.observe(elapsedMs / 1000);
  };
}
