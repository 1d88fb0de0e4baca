/**
 * What every process's main.ts does with SIGINT/SIGTERM: the first signal closes the service
 * (in-flight requests finish); a signal that comes later than the repeat window forces the exit,
 * for an operator who does not want to wait.
 *
 * The window matters because one Ctrl-C is several signals: a terminal signals every process of
 * its foreground process group at once, and npm forwards the signal to its child as well, so a
 * process under `npm start` sees a "second" SIGINT a millisecond after the first. That is the
 * same request, not an operator asking again.
 */
import type { Logger } from './logger.ts';
import { monotonicNow } from './monotonic.ts';

/** Signals closer than this to the first one are repeats of the same request. */
export const REPEAT_WINDOW_MS = 1000;

export interface Closable {
  /** `reason`: the signal (or other cause) that asked for the stop. */
  close(reason: string): Promise<void>;
}

/**
 * SIGTERM is how a process manager replaces one instance (a rolling restart): an HTTP server
 * then drains first, so its callers move elsewhere. SIGINT (Ctrl-C, or `npm start` stopping the
 * whole system) stops at once: with everything stopping there is nowhere to move to.
 */
export function drainsOn(reason: string): boolean {
  return reason !== 'SIGINT';
}

export interface StopHandlers {
  /** The first request: stop gracefully. */
  stop(reason: string): void;
  /** A request after the repeat window: stop now. */
  force(reason: string): void;
}

export interface StopSignalOptions {
  signals?: NodeJS.Signals[];
  repeatWindowMs?: number;
}

/**
 * Routes stop signals to `stop` (the first) or `force` (one after the window). Returns the same
 * routing as a function, for stop requests that are not signals (the parent went away).
 */
export function handleStopSignals(handlers: StopHandlers, logger: Logger, options: StopSignalOptions = {}): (reason: string) => void {
  const windowMs = options.repeatWindowMs ?? REPEAT_WINDOW_MS;
  let firstAt: number | undefined;
  let forced = false;
  const request = (reason: string): void => {
    const now = monotonicNow();
    if (firstAt === undefined) {
      firstAt = now;
      logger.info(reason.startsWith('SIG') ? { signal: reason } : { reason }, 'stopping');
      handlers.stop(reason);
      return;
    }
    if (now - firstAt < windowMs) {
      logger.debug({ reason, afterMs: now - firstAt }, 'the same stop request again (a terminal signals the whole group; npm forwards it)');
      return;
    }
    if (forced) return;
    forced = true;
    logger.warn({ reason }, 'stop requested again; stopping now');
    handlers.force(reason);
  };
  for (const signal of options.signals ?? ['SIGINT', 'SIGTERM']) process.on(signal, () => request(signal));
  return request;
}

export function closeOnSignals(service: Closable, logger: Logger): void {
  handleStopSignals(
    {
      stop: (reason) =>
        service.close(reason).then(
          () => {
            logger.info('closed');
            process.exit(0);
          },
          (error: unknown) => {
            logger.error({ err: error }, 'close failed');
            process.exit(1);
          },
        ),
      force: () => process.exit(1),
    },
    logger,
  );
}
