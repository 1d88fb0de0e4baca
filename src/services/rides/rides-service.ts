/** Starts one rides service instance (SPEC §3) on its own port. */
import type { ObservabilitySettings } from '../../shared/http/observability.ts';
import type { Logger } from '../../shared/logger.ts';
import { DbClient, type DbClientOptions } from '../dbclient/db-client.ts';
import { createServiceApp, listen, type ServiceHandle } from '../http/service-app.ts';
import { loadAreaNames, type AreaNames } from './area-names.ts';
import { clockFrom } from './clock.ts';
import { ridesReadiness } from './rides-readiness.ts';
import { registerRidesRoutes } from './rides-routes.ts';
import { RidesStore } from './rides-store.ts';
import { UsersDirectory } from './users-directory.ts';

export interface RidesServiceOptions {
  /** 0 picks a free port; the handle's `url` tells which. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** How long closing keeps answering while draining (config SHUTDOWN_DRAIN_MS). Default 0. */
  drainMs?: number;
  /** Access log and metrics (config ACCESS_LOG, METRICS); both on unless given. */
  observability?: ObservabilitySettings;
  db: DbClientOptions;
  /** Where users are checked: the gateway (config GATEWAY_URL). */
  gatewayUrl: string;
  /** Sent as `Origin` on those checks (config RIDES_PUBLIC_HOST). */
  publicHost: string;
  /** Fixes the clock at a `DD-MM-YYYY:SS-MM-HH` instant (config RIDESHARE_NOW); default real time. */
  now?: string;
  /** CSV of area names (config AREAS_FILE); without it rides show numbers only. */
  areasFile?: string;
  /** Upper bound for one users lookup (config HTTP_TIMEOUT_MS). */
  httpTimeoutMs: number;
  /** Default: a pino logger for component `rides`. */
  logger: Logger;
}

export async function startRidesService(options: RidesServiceOptions): Promise<ServiceHandle> {
  const { logger } = options;
  // Both fail fast, before anything is opened: a bad clock or areas file is a start-up error.
  const clock = clockFrom(options.now);
  const areaNames: AreaNames = options.areasFile === undefined ? new Map() : await loadAreaNames(options.areasFile);
  const db = new DbClient({ logger, ...options.db });
  const users = new UsersDirectory({ gatewayUrl: options.gatewayUrl, origin: options.publicHost, timeoutMs: options.httpTimeoutMs });
  const closeClients = async (): Promise<void> => {
    await Promise.all([db.close(), users.close()]);
  };
  const { app } = createServiceApp({ name: 'rides', observability: options.observability, logger, countedPrefix: '/api/v1/rides', readiness: () => ridesReadiness(db, users) });
  registerRidesRoutes(app, { store: new RidesStore(db), users, clock, areaNames });
  try {
    return await listen(app, { port: options.port, host: options.host, drainMs: options.drainMs }, closeClients);
  } catch (error) {
    await closeClients();
    throw error;
  }
}
