/** Entry point of a worker process (master or slave); started by a worker runtime. */
import { createLogger } from '../../shared/logger.ts';
import { Worker } from './Worker.ts';
import { loadWorkerSettings } from './WorkerSettings.ts';

const settings = loadWorkerSettings();
const logger = createLogger('worker', settings.LOG_LEVEL).child({ workerId: settings.WORKER_ID });
const worker = new Worker(settings, logger);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) process.exit(1); // a second signal forces the exit
  stopping = true;
  logger.info({ signal }, 'stopping');
  await worker.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
worker.on('fatal', () => process.exit(1));

worker.start().catch((error: unknown) => {
  logger.fatal({ err: error }, 'worker failed to start');
  process.exit(1);
});
