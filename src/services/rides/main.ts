/** `tsx src/services/rides/main.ts`: one rides instance configured from the environment. */
import { describeConfig, loadConfig } from '../../shared/config.ts';
import { announceAuth } from '../../shared/auth/announce.ts';
import { createLogger } from '../../shared/logger.ts';
import { closeOnSignals, drainsOn } from '../../shared/process-lifecycle.ts';
import { startRidesService } from './rides-service.ts';
import { ridesSettingsFrom } from './settings.ts';

const config = loadConfig();
const logger = createLogger('rides', config.LOG_LEVEL);
logger.info({ config: describeConfig(config) }, 'starting');
announceAuth(config, logger);
const service = await startRidesService({ ...ridesSettingsFrom(config), logger });
logger.info({ url: service.url }, 'rides service listening');
closeOnSignals({ close: (reason) => service.close({ drain: drainsOn(reason) }) }, logger);
