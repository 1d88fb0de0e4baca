/** `tsx src/services/users/main.ts`: one users instance configured from the environment. */
import { describeConfig, loadConfig, tokenFor } from '../../shared/config.ts';
import { announceAuth } from '../../shared/auth/announce.ts';
import { createLogger } from '../../shared/logger.ts';
import { closeOnSignals, drainsOn } from '../../shared/process-lifecycle.ts';
import { startUsersService } from './users-service.ts';

const config = loadConfig();
const logger = createLogger('users', config.LOG_LEVEL);
logger.info({ config: describeConfig(config) }, 'starting');
announceAuth(config, logger);
const service = await startUsersService({
  port: config.USERS_PORT,
  host: config.BIND_HOST,
  drainMs: config.SHUTDOWN_DRAIN_MS,
  observability: { accessLog: config.ACCESS_LOG, metrics: config.METRICS },
  db: { urls: config.ORCHESTRATOR_URLS, timeoutMs: config.HTTP_TIMEOUT_MS, token: config.RIDESHARE_AUTH ? tokenFor(config, 'service') : undefined },
  logger,
});
logger.info({ url: service.url }, 'users service listening');
closeOnSignals({ close: (reason) => service.close({ drain: drainsOn(reason) }) }, logger);
