/**
 * The services under test, in process on free ports: a gateway in front of users and rides
 * instances, all talking to the database service at `orchestratorUrl`.
 */
import { loadConfig } from '../../src/shared/config.ts';
import { createLogger, type Logger } from '../../src/shared/logger.ts';
import { freePort } from '../../src/shared/ports.ts';
import { startGateway } from '../../src/services/gateway/gateway.ts';
import { GATEWAY_UPSTREAM_TIMEOUT_MS } from '../../src/services/gateway/settings.ts';
import type { ServiceHandle } from '../../src/services/http/service-app.ts';
import { startRidesService } from '../../src/services/rides/rides-service.ts';
import { startUsersService } from '../../src/services/users/users-service.ts';
import { httpClient, type HttpClient } from '../http.ts';

export { freePort, GATEWAY_UPSTREAM_TIMEOUT_MS };

/** HTTP_TIMEOUT_MS as the product has it when unset: the services' calls in tests wait as long. */
export const HTTP_TIMEOUT_MS = loadConfig({}).HTTP_TIMEOUT_MS;

export interface StackOptions {
  orchestratorUrl: string;
  /** RIDESHARE_NOW for the rides instances. */
  now?: string;
  areasFile?: string;
  usersInstances?: number;
  ridesInstances?: number;
  httpTimeoutMs?: number;
  /** How long the services retry a write after 503s (DbClient's writeRetryWindowMs). */
  writeRetryWindowMs?: number;
  /** Where the services log; silent (or LOG_LEVEL) unless given. */
  logger?: Logger;
  /** The gateway of the 2020 compatibility mode (RIDESHARE_AUTH=off): every other path to rides. */
  compatibility2020?: boolean;
}

export interface Stack {
  gateway: HttpClient;
  users: HttpClient[];
  rides: HttpClient[];
  gatewayUrl: string;
  usersUrls: string[];
  ridesUrls: string[];
  close(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const logger = options.logger ?? createLogger('test-services', process.env.LOG_LEVEL ?? 'silent');
  const db = {
    urls: [options.orchestratorUrl],
    timeoutMs: options.httpTimeoutMs ?? HTTP_TIMEOUT_MS,
    retryDelayMs: 50,
    ...(options.writeRetryWindowMs === undefined ? {} : { writeRetryWindowMs: options.writeRetryWindowMs }),
  };
  const gatewayUrl = `http://127.0.0.1:${await freePort()}`;
  const started: ServiceHandle[] = [];
  const close = async (): Promise<void> => {
    for (const handle of [...started].reverse()) await handle.close();
  };
  try {
    for (let i = 0; i < (options.usersInstances ?? 1); i += 1) started.push(await startUsersService({ port: 0, db, logger }));
    const usersUrls = started.map((handle) => handle.url);
    for (let i = 0; i < (options.ridesInstances ?? 1); i += 1) {
      const publicHost = `http://rides-${i}.test`;
      started.push(await startRidesService({ port: 0, db, gatewayUrl, publicHost, now: options.now, areasFile: options.areasFile, httpTimeoutMs: options.httpTimeoutMs ?? HTTP_TIMEOUT_MS, logger }));
    }
    const ridesUrls = started.slice(usersUrls.length).map((handle) => handle.url);
    const gateway = await startGateway({
      port: Number(new URL(gatewayUrl).port),
      usersUpstreams: usersUrls,
      ridesUpstreams: ridesUrls,
      publicApiOnly: !options.compatibility2020,
      timeoutMs: GATEWAY_UPSTREAM_TIMEOUT_MS,
      logger,
    });
    started.push(gateway);
    return {
      gateway: httpClient(gatewayUrl),
      users: usersUrls.map((url) => httpClient(url)),
      rides: ridesUrls.map((url) => httpClient(url)),
      gatewayUrl,
      usersUrls,
      ridesUrls,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
