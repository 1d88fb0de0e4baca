/** The rides service's view of the one configuration (src/shared/config.ts). */
import type { Config } from '../../shared/config.ts';
import { dbClientSettingsFrom } from '../dbclient/settings.ts';
import type { RidesServiceOptions } from './rides-service.ts';

/** Everything but the logger, which the process makes. */
export type RidesServiceSettings = Omit<RidesServiceOptions, 'logger'>;

export function ridesSettingsFrom(config: Config): RidesServiceSettings {
  return {
    port: config.RIDES_PORT,
    host: config.BIND_HOST,
    drainMs: config.SHUTDOWN_DRAIN_MS,
    observability: { accessLog: config.ACCESS_LOG, metrics: config.METRICS },
    db: dbClientSettingsFrom(config),
    gatewayUrl: config.GATEWAY_URL,
    publicHost: config.RIDES_PUBLIC_HOST,
    now: config.RIDESHARE_NOW,
    areasFile: config.AREAS_FILE,
    httpTimeoutMs: config.HTTP_TIMEOUT_MS,
  };
}
