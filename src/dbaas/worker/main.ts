/** Entry point of a worker process (master or slave); started by a worker runtime. */
import { createLogger } from '../../shared/logger.ts';
import { closeOnSignals } from '../../shared/process-lifecycle.ts';
import { Worker } from './Worker.ts';
import { decodeWorkerSettings, WORKER_SETTINGS_VARIABLE } from './WorkerSettings.ts';

const settings = decodeWorkerSettings(process.env[WORKER_SETTINGS_VARIABLE]);
const logger = createLogger('worker', settings.logLevel).child({ workerId: settings.workerId });
const worker = new Worker(settings, logger);

closeOnSignals({ close: () => worker.stop() }, logger);
worker.on('fatal', () => process.exit(1));

worker.start().catch((error: unknown) => {
  logger.fatal({ err: error }, 'worker failed to start');
  process.exit(1);
});
