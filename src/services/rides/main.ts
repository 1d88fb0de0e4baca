/** `tsx src/services/rides/main.ts`: one rides instance configured from the environment. */
import { describeConfig, loadConfig, tokenFor } from '../../shared/config.ts';
import { announceAuth } from '../../shared/auth/announce.ts';
import { createLogger } from '../../shared/logger.ts';
import { closeOnSignals, drainsOn } from '../../shared/process-lifecycle.ts';
import { startRidesService } from './rides-service.ts';

const config = loadConfig();
const logger = createLogger('rides', config.LOG_LEVEL);
logger.info({ config: describeConfig(config) }, 'starting');
announceAuth(config, logger);
const service = await startRidesService({
  port: config.RIDES_PORT,
  host: config.BIND_HOST,
  drainMs: config.SHUTDOWN_DRAIN_MS,
  observability: { accessLog: config.ACCESS_LOG, metrics: config.METRICS },
  db: { urls: config.ORCHESTRATOR_URLS, timeoutMs: config.HTTP_TIMEOUT_MS, token: config.RIDESHARE_AUTH ? tokenFor(config, 'service') : undefined },
  gatewayUrl: config.GATEWAY_URL,
  publicHost: config.RIDES_PUBLIC_HOST,
  now: config.RIDESHARE_NOW,
  areasFile: config.AREAS_FILE,
  httpTimeoutMs: config.HTTP_TIMEOUT_MS,
  logger,
});
logger.info({ url: service.url }, 'rides service listening');
closeOnSignals({ close: (reason) => service.close({ drain: drainsOn(reason) }) }, logger);
