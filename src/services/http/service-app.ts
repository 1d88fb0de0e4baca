/**
 * The HTTP app both services start from: the system's common HTTP kit (src/shared/http) plus the
 * `_count` counter. A service adds its own routes and then calls `listen`.
 */
import type { FastifyInstance } from 'fastify';
import { createHttpApp } from '../../shared/http/app.ts';
import type { ReadinessCheck } from '../../shared/http/health.ts';
import type { ObservabilitySettings } from '../../shared/http/observability.ts';
import type { Logger } from '../../shared/logger.ts';
import { installRequestCounting, RequestCounter } from './request-counter.ts';

export { listen, type HttpHandle as ServiceHandle, type ListenOptions } from '../../shared/http/app.ts';

export interface ServiceAppOptions {
  /** `users` or `rides`: the `process` label of its metrics. */
  name: string;
  observability?: ObservabilitySettings | undefined;
  logger: Logger;
  /** What GET /ready asks: whether the service can reach what it needs. */
  readiness: ReadinessCheck;
  /** The path whose requests `_count` counts, e.g. `/api/v1/users`. */
  countedPrefix: string;
}

export interface ServiceApp {
  app: FastifyInstance;
  counter: RequestCounter;
}

export function createServiceApp(options: ServiceAppOptions): ServiceApp {
  const counter = new RequestCounter(options.countedPrefix);
  // Errors the router raises before any hook runs still count.
  const app = createHttpApp({
    name: options.name,
    ...(options.observability ? { observability: options.observability } : {}),
    logger: options.logger,
    readiness: options.readiness,
    onFrameworkError: (url) => counter.observe(url),
  });
  installRequestCounting(app, counter);
  return { app, counter };
}
