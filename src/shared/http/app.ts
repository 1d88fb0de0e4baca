/**
 * The fastify instance every HTTP server of the system starts from (orchestrator, users, rides,
 * gateway): one error format, one JSON-body rule, one 404/405 shape, the same size limits, no
 * cross-site writes (same-origin.ts), `GET /health` and `GET /ready`. A server adds its routes and then calls `listen`.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { BadRequestError, RideShareError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { createRegistry, type Registry } from '../metrics.ts';
import { REQUEST_ID_HEADER, requestIdFrom } from '../request-context.ts';
import { abbreviate, installErrorHandling, sendError } from './errors.ts';
import { authorizer, installAuth, type AuthOptions } from './auth.ts';
import { placeFrontDoor, type FrontDoorOptions } from './front-door.ts';
import { drain, installDrain, isDraining } from './drain.ts';
import { installHealth, type ReadinessCheck } from './health.ts';
import { installJsonBody, installRawBody } from './json-body.ts';
import { lazyRequestLogger } from './request-logger.ts';
import { installSameOriginWrites } from './same-origin.ts';
import { BODY_LIMIT_BYTES, HEADERS_TIMEOUT_MS, IDLE_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, MAX_HEADER_BYTES, REQUEST_TIMEOUT_MS } from './limits.ts';
import { FULL_OBSERVABILITY, installObservability, type ObservabilitySettings } from './observability.ts';

export interface HttpAppOptions {
  logger: Logger;
  /** Names the process in the metrics (`process` label): orchestrator, users, rides, gateway. */
  name: string;
  /** Where `GET /metrics` reads from; a new registry with the process metrics unless given. */
  registry?: Registry;
  /** Access log and metrics (config ACCESS_LOG, METRICS); both on unless given. */
  observability?: ObservabilitySettings;
  /** `json` (default): bodies parsed as JSON whatever their Content-Type; `raw`: kept as bytes (the gateway forwards them). */
  body?: 'json' | 'raw';
  /** Bearer-token authorization (src/shared/http/auth.ts); none: every route is open. */
  auth?: AuthOptions;
  /** What `GET /ready` asks (src/shared/http/health.ts); without one, a listening server is ready. */
  readiness?: ReadinessCheck;
  /** Told of each request the router refuses before any hook runs (a malformed percent-encoding, say). */
  onFrameworkError?: (url: string) => void;
  /**
   * POST routes answered ahead of fastify (front-door.ts) when the request is an ordinary one; the
   * server must also define them on fastify, which answers every other request to them.
   */
  front?: FrontDoorOptions['routes'];
  /** While this says false, the front door leaves every request to fastify (front-door.ts). */
  frontOpen?: FrontDoorOptions['open'];
  /**
   * Whether handlers find the request id in the request context (src/shared/request-context.ts).
   * Default true; a server whose handlers are given the id saves what AsyncLocalStorage adds to every promise.
   */
  requestContext?: boolean;
}

/** A path parameter as long as a request head may be: a long one is a 400 from a handler, not a 404. */
const MAX_PARAM_LENGTH = MAX_HEADER_BYTES;

export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  const app = Fastify({
    // A pino logger is a FastifyBaseLogger; the cast only keeps the instance's type parameters default.
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    genReqId: (request) => requestIdFrom(request.headers[REQUEST_ID_HEADER]),
    childLoggerFactory: lazyRequestLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Node checks the head and request deadlines every 30 s by default: a slow client would get 30 s more.
    http: { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionTimeout: IDLE_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: (error, request, reply) => {
      options.onFrameworkError?.(request.url);
      sendError(reply, new BadRequestError(abbreviate(error.message, 200)));
    },
  });
  if (options.body === 'raw') installRawBody(app);
  else installJsonBody(app);
  installErrorHandling(app);
  installSameOriginWrites(app);
  if (options.auth) installAuth(app, options.auth);
  const observe = installObservability(app, {
    logger: options.logger,
    registry: options.registry ?? createRegistry(options.name),
    ...(options.observability ?? FULL_OBSERVABILITY),
    requestContext: options.requestContext ?? true,
  });
  installDrain(app);
  if (options.front) {
    const { auth } = options;
    placeFrontDoor(app, {
      routes: options.front,
      authorize: auth ? authorizer(auth) : undefined,
      accessOf: auth?.accessOf ?? (() => 'open'),
      observe,
      logger: options.logger,
      ...(options.frontOpen ? { open: options.frontOpen } : {}),
    });
  }
  const readiness = options.readiness ?? (async () => ({ ready: true, reason: 'listening' }));
  installHealth(app, async () => (isDraining(app) ? { ready: false, reason: 'draining before a stop' } : readiness()));
  return app;
}

export interface HttpHandle {
  /** `http://host:port` the server listens on (the real port when 0 was asked for). */
  url: string;
  /** Drains first (ListenOptions.drainMs) unless `drain` is false. */
  close(options?: { drain?: boolean }): Promise<void>;
}

export interface ListenOptions {
  port: number;
  /** Defaults to loopback: on one machine everything talks over 127.0.0.1. */
  host?: string;
  /** How long `close` keeps answering, draining (src/shared/http/drain.ts), before it stops listening. Default 0. */
  drainMs?: number;
}

/** Listens; the handle's close is idempotent and runs `onClose` after the server has closed. */
export async function listen(app: FastifyInstance, options: ListenOptions, onClose?: () => Promise<void>): Promise<HttpHandle> {
  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({ port: options.port, host });
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new RideShareError('INVARIANT', 'the server has no TCP address');
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${address.port}`,
    close: (closeOptions = {}) => {
      closing ??= drain(app, closeOptions.drain === false ? 0 : (options.drainMs ?? 0))
        .then(() => app.close())
        .then(() => onClose?.());
      return closing;
    },
  };
}
