/** `tsx src/dbaas/orchestrator/main.ts`: the orchestrator (and its supervisor) from the environment. */
import path from 'node:path';
import { announceAuth } from '../../shared/auth/announce.ts';
import { describeConfig, loadConfig, tokensFor } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { keepFilesPrivate, secureDataDir } from '../../shared/private-files.ts';
import { closeOnSignals, drainsOn } from '../../shared/process-lifecycle.ts';
import { createRuntime } from '../runtime/createRuntime.ts';
import { Orchestrator } from './Orchestrator.ts';
import { workerTuningFrom } from './settings.ts';

// Backup copies, worker logs and the workers it starts (who inherit it) make private files only.
keepFilesPrivate();
const config = loadConfig();
const logger = createLogger('orchestrator', config.LOG_LEVEL);
secureDataDir(config.DATA_DIR, logger);
if (!config.AMQP_URL || !config.ZK_CONNECT) {
  logger.fatal('AMQP_URL and ZK_CONNECT must be set (npm start finds or starts the servers and sets them)');
  process.exit(2);
}
logger.info({ config: describeConfig(config) }, 'starting');
announceAuth(config, logger);

const orchestrator = new Orchestrator({
  port: config.ORCHESTRATOR_PORT,
  host: config.BIND_HOST,
  cluster: config.RIDESHARE_CLUSTER,
  dataDir: config.DATA_DIR,
  amqpUrl: config.AMQP_URL,
  zkConnect: config.ZK_CONNECT,
  rpcTimeoutMs: config.RPC_TIMEOUT_MS,
  sessionTimeoutMs: config.ZK_SESSION_TIMEOUT_MS,
  initialSlaves: 1,
  supervises: config.ORCHESTRATOR_SUPERVISES,
  scaling: { windowMs: config.SCALE_WINDOW_SECONDS * 1000, readsPerSlave: config.READS_PER_SLAVE, maxSlaves: config.MAX_SLAVES },
  workerTuning: workerTuningFrom(config),
  drainMs: config.SHUTDOWN_DRAIN_MS,
  observability: { accessLog: config.ACCESS_LOG, metrics: config.METRICS },
  auth: config.RIDESHARE_AUTH ? { enabled: true, tokens: tokensFor(config) } : { enabled: false },
  runtime: createRuntime(config.WORKER_RUNTIME, {
    cluster: config.RIDESHARE_CLUSTER,
    dataDir: config.DATA_DIR,
    logDir: path.join(config.DATA_DIR, 'logs'),
    image: config.WORKER_IMAGE,
    logger: logger.child({ component: 'runtime' }),
  }),
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
