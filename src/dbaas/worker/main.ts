/** Entry point of a worker process (master or slave); started by a worker runtime. */
import path from 'node:path';
import { createLogger } from '../../shared/logger.ts';
import { keepFilesPrivate, secureDataDir } from '../../shared/private-files.ts';
import { closeOnSignals } from '../../shared/process-lifecycle.ts';
import { Worker } from './Worker.ts';
import { readWorkerSettings } from './WorkerSettings.ts';

// SQLite makes the -wal and -shm files itself: only a umask keeps them 0600 from their first byte.
// Set here too, not only inherited: a container does not inherit the orchestrator's.
keepFilesPrivate();
const settings = readWorkerSettings(process.env);
const logger = createLogger('worker', settings.logLevel).child({ workerId: settings.workerId });
// The folder of its files (DATA_DIR/workers, or a container's mount of it).
secureDataDir(path.dirname(settings.dbFile), logger);
const worker = new Worker(settings, logger);

closeOnSignals({ close: () => worker.stop() }, logger);
worker.on('fatal', () => process.exit(1));

worker.start().catch((error: unknown) => {
  logger.fatal({ err: error }, 'worker failed to start');
  process.exit(1);
});
