/** The users service's view of the one configuration (src/shared/config.ts). */
import type { Config } from '../../shared/config.ts';
import { dbClientSettingsFrom } from '../dbclient/settings.ts';
import type { UsersServiceOptions } from './users-service.ts';

/** Everything but the logger, which the process makes. */
export type UsersServiceSettings = Omit<UsersServiceOptions, 'logger'>;

export function usersSettingsFrom(config: Config): UsersServiceSettings {
  return {
    port: config.USERS_PORT,
    host: config.BIND_HOST,
    drainMs: config.SHUTDOWN_DRAIN_MS,
    observability: { accessLog: config.ACCESS_LOG, metrics: config.METRICS },
    db: dbClientSettingsFrom(config),
  };
}
