/**
 * What every process's main.ts does with SIGINT/SIGTERM: the first signal closes the service (in-flight
 * requests finish), a second one exits at once for an operator who does not want to wait.
 */
import type { Logger } from './logger.ts';

export interface Closable {
  close(): Promise<void>;
}

export function closeOnSignals(service: Closable, logger: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'closing');
    service.close().then(
      () => {
        logger.info('closed');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'close failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
