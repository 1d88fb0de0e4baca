/**
 * `npm start`: the whole system on this machine (see system/RideShareSystem.ts), or with
 * `--host <name>` (RIDESHARE_HOST) this host's share of a deployment across hosts
 * (system/host-plan.ts, docs/hosts.md), kept running
 * until SIGINT, SIGTERM or SIGHUP, or until our parent goes away. The first request stops
 * everything gracefully; one that comes after the repeat window (not the echo of the same Ctrl-C)
 * kills everything at once. Either way nothing it started outlives it.
 */
import { announceAuth } from './shared/auth/announce.ts';
import { ConfigError, describeConfig, loadConfig, tokensFor } from './shared/config.ts';
import { createLogger } from './shared/logger.ts';
import { keepFilesPrivate, secureDataDir } from './shared/private-files.ts';
import { handleStopSignals } from './shared/process-lifecycle.ts';
import { parseArgs } from 'node:util';
import { hostPlanFrom } from './system/host-plan.ts';
import { checkHostSecrets } from './system/host-secrets.ts';
import { RideShareSystem } from './system/RideShareSystem.ts';

// Info until the settings are read: a bad setting must still be reported.
const logger = createLogger('rideshare', 'info');
/** How often the parent is checked for. */
const PARENT_POLL_MS = 500;

async function main(): Promise<void> {
  // Before anything is written; every process started from here inherits it.
  keepFilesPrivate();
  const config = loadConfig(environmentWithArguments());
  const host = hostPlanFrom(config);
  logger.level = config.LOG_LEVEL;
  secureDataDir(config.DATA_DIR, logger);
  // Across hosts a secret made here would differ from the other hosts': they must all be there.
  if (host) checkHostSecrets(config);
  logger.info({ config: describeConfig(config) }, host ? `starting RideShare host ${host.self.name}` : 'starting RideShare');
  // The tokens are made here, before any process that needs them starts.
  if (config.RIDESHARE_AUTH) tokensFor(config);
  announceAuth(config, logger);
  const system = new RideShareSystem({ config, logger, host });

  let exitCode = 0;
  const finish = (how: Promise<void>, forced: boolean) =>
    how.then(
      () => {
        logger.info('stopped');
        process.exit(forced ? 1 : exitCode);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  const request = handleStopSignals(
    {
      stop: () => void finish(system.stop(), false),
      force: () => void finish(system.force(), true),
    },
    logger,
    { signals: ['SIGINT', 'SIGTERM', 'SIGHUP'] },
  );
  watchParent(() => request('parent gone'));

  try {
    await system.start();
  } catch (error) {
    // A stop requested during start-up makes the start fail; that stop is already under way.
    if (system.isStopping) return;
    logger.fatal({ err: error }, 'start-up failed');
    exitCode = 1;
    request('start-up failed');
  }
}

/** `--host <name>` is RIDESHARE_HOST given on the command line; both, naming different hosts, is a mistake. */
function environmentWithArguments(): NodeJS.ProcessEnv {
  let values: { host?: string };
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: { host: { type: 'string' } }, strict: true }));
  } catch (error) {
    throw new ConfigError(`${(error as Error).message} (npm start [-- --host <name>])`);
  }
  if (values.host === undefined) return process.env;
  const fromEnvironment = process.env.RIDESHARE_HOST?.trim();
  if (fromEnvironment && fromEnvironment !== values.host) throw new ConfigError(`invalid settings: --host ${values.host} and RIDESHARE_HOST=${fromEnvironment} name different hosts`);
  return { ...process.env, RIDESHARE_HOST: values.host };
}

/**
 * Our parent (npm, or a supervisor of ours) going away is a stop request: nobody would be left
 * to send one, and the system would run on unowned.
 */
function watchParent(onOrphaned: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    logger.warn({ parent }, 'the parent process is gone');
    onOrphaned();
  }, PARENT_POLL_MS);
  timer.unref();
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) logger.fatal(error.message);
  else logger.fatal({ err: error }, 'RideShare failed');
  process.exit(1);
});
