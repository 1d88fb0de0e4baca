/**
 * The fastify instance both services start from: JSON bodies, one error format, 404/405 rules,
 * the `_count` counter and a health check. A service adds its own routes and then calls `listen`.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { BadRequestError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { abbreviate, installErrorHandling, sendError } from './error-handling.ts';
import { installJsonBody } from './json-body.ts';
import { BODY_LIMIT_BYTES, MAX_HEADER_BYTES } from './limits.ts';
import { installRequestCounting, RequestCounter } from './request-counter.ts';

export interface ServiceAppOptions {
  logger: Logger;
  /** The path whose requests `_count` counts, e.g. `/api/v1/users`. */
  countedPrefix: string;
}

export interface ServiceApp {
  app: FastifyInstance;
  counter: RequestCounter;
}

/** A path parameter as long as a request head may be: a long one is a 400 from a handler, not a 404. */
const MAX_PARAM_LENGTH = MAX_HEADER_BYTES;

export function createServiceApp(options: ServiceAppOptions): ServiceApp {
  const counter = new RequestCounter(options.countedPrefix);
  const app = Fastify({
    // A pino logger is a FastifyBaseLogger; the cast only keeps the instance's type parameters default.
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    http: { maxHeaderSize: MAX_HEADER_BYTES },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Errors the router raises before any hook runs (a malformed percent-encoding, say) still
    // count and still answer in the common error shape.
    frameworkErrors: (error, request, reply) => {
      counter.observe(request.url);
      sendError(reply, new BadRequestError(abbreviate(error.message, 200)));
    },
  });
  installJsonBody(app);
  installErrorHandling(app);
  installRequestCounting(app, counter);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime }, 'answered');
  });
  return { app, counter };
}

export interface ServiceHandle {
  /** `http://host:port` the service listens on (the real port when 0 was asked for). */
  url: string;
  close(): Promise<void>;
}

export interface ListenOptions {
  port: number;
  /** Defaults to loopback: on one machine everything talks over 127.0.0.1. */
  host?: string;
}

export async function listen(app: FastifyInstance, options: ListenOptions, onClose?: () => Promise<void>): Promise<ServiceHandle> {
  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({ port: options.port, host });
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the service has no TCP address');
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${address.port}`,
    close: () => {
      closing ??= app.close().then(() => onClose?.());
      return closing;
    },
  };
}
