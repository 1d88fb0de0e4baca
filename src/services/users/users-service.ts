/** Starts one users service instance (SPEC §2) on its own port. */
import type { ObservabilitySettings } from '../../shared/http/observability.ts';
import type { Logger } from '../../shared/logger.ts';
import { DbClient, type DbClientOptions } from '../dbclient/db-client.ts';
import { databaseReadiness } from '../http/readiness.ts';
import { createServiceApp, listen, type ServiceHandle } from '../http/service-app.ts';
import { registerUsersRoutes } from './users-routes.ts';
import { UsersStore } from './users-store.ts';

export interface UsersServiceOptions {
  /** 0 picks a free port; the handle's `url` tells which. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** How long closing keeps answering while draining (config SHUTDOWN_DRAIN_MS). Default 0. */
  drainMs?: number;
  /** Access log and metrics (config ACCESS_LOG, METRICS); both on unless given. */
  observability?: ObservabilitySettings;
  db: DbClientOptions;
  /** Default: a pino logger for component `users`. */
  logger: Logger;
}

export async function startUsersService(options: UsersServiceOptions): Promise<ServiceHandle> {
  const { logger } = options;
  const db = new DbClient({ logger, ...options.db });
  const { app } = createServiceApp({ name: 'users', observability: options.observability, logger, countedPrefix: '/api/v1/users', readiness: () => databaseReadiness(db) });
  registerUsersRoutes(app, new UsersStore(db));
  try {
    return await listen(app, { port: options.port, host: options.host, drainMs: options.drainMs }, () => db.close());
  } catch (error) {
    await db.close();
    throw error;
  }
}
