/** The database client's view of the one configuration (src/shared/config.ts): where, how long, which token. */
import { tokenFor, type Config } from '../../shared/config.ts';
import type { DbClientOptions } from './db-client.ts';

export type DbClientSettings = Pick<DbClientOptions, 'urls' | 'timeoutMs' | 'token'>;

export function dbClientSettingsFrom(config: Config): DbClientSettings {
  return { urls: config.ORCHESTRATOR_URLS, timeoutMs: config.HTTP_TIMEOUT_MS, token: config.RIDESHARE_AUTH ? tokenFor(config, 'service') : undefined };
}
