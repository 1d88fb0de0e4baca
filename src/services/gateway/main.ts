/** `tsx src/services/gateway/main.ts`: the public gateway configured from the environment. */
import { describeConfig, loadConfig } from '../../shared/config.ts';
import { announceAuth } from '../../shared/auth/announce.ts';
import { createLogger } from '../../shared/logger.ts';
import { closeOnSignals, drainsOn } from '../../shared/process-lifecycle.ts';
import { startGateway } from './gateway.ts';
import { gatewaySettingsFrom } from './settings.ts';

const config = loadConfig();
const logger = createLogger('gateway', config.LOG_LEVEL);
logger.info({ config: describeConfig(config) }, 'starting');
announceAuth(config, logger);
const gateway = await startGateway({ ...gatewaySettingsFrom(config), logger });
logger.info({ url: gateway.url }, 'gateway listening');
closeOnSignals({ close: (reason) => gateway.close({ drain: drainsOn(reason) }) }, logger);
