/** `tsx src/dbaas/orchestrator/main.ts`: the orchestrator (and its supervisor) from the environment. */
import { announceAuth } from '../../shared/auth/announce.ts';
import { ConfigError, describeConfig, loadConfig, type Config } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { keepFilesPrivate, secureDataDir } from '../../shared/private-files.ts';
import { closeOnSignals, drainsOn } from '../../shared/process-lifecycle.ts';
import { createRuntime } from '../runtime/create-runtime.ts';
import { Orchestrator } from './Orchestrator.ts';
import { orchestratorSettingsFrom, type OrchestratorSettings } from './settings.ts';

// Backup copies, worker logs and the workers it starts (who inherit it) make private files only.
keepFilesPrivate();
const config = loadConfig();
const logger = createLogger('orchestrator', config.LOG_LEVEL);
secureDataDir(config.DATA_DIR, logger);
const settings = settingsOrExit(config);
logger.info({ config: describeConfig(config) }, 'starting');
announceAuth(config, logger);

const orchestrator = new Orchestrator({
  ...settings.orchestrator,
  runtime: createRuntime(settings.runtime.kind, { ...settings.runtime.options, logger: logger.child({ component: 'runtime' }) }),
  logger,
});

// Before start: a signal during start-up must still stop the workers already started. With
// another orchestrator running, the workers are left to it: this is a restart, not the end.
const handOver = (): Promise<boolean> => orchestrator.hasPeers().catch(() => false);
closeOnSignals({ close: async (reason) => orchestrator.stop({ leaveWorkers: await handOver(), drain: drainsOn(reason) }) }, logger);
try {
  await orchestrator.start();
  logger.info({ url: orchestrator.url }, 'orchestrator listening');
} catch (error) {
  logger.fatal({ err: error }, 'orchestrator failed to start');
  await orchestrator.stop().catch(() => undefined);
  process.exit(1);
}

/** A setting this process cannot run without (the servers npm start sets) stops it with exit code 2. */
function settingsOrExit(config: Config): OrchestratorSettings {
  try {
    return orchestratorSettingsFrom(config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    logger.fatal(error.message);
    process.exit(2);
  }
}
