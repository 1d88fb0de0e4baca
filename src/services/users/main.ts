/** `tsx src/services/users/main.ts`: one users instance configured from the environment. */
import { describeConfig, loadConfig } from '../../shared/config.ts';
import { announceAuth } from '../../shared/auth/announce.ts';
import { createLogger } from '../../shared/logger.ts';
import { closeOnSignals, drainsOn } from '../../shared/process-lifecycle.ts';
import { usersSettingsFrom } from './settings.ts';
import { startUsersService } from './users-service.ts';

const config = loadConfig();
const logger = createLogger('users', config.LOG_LEVEL);
logger.info({ config: describeConfig(config) }, 'starting');
announceAuth(config, logger);
const service = await startUsersService({ ...usersSettingsFrom(config), logger });
logger.info({ url: service.url }, 'users service listening');
closeOnSignals({ close: (reason) => service.close({ drain: drainsOn(reason) }) }, logger);
