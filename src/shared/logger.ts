import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Fields that never reach a log line whatever object is logged: passwords and their hashes,
 * tokens and authorization headers (access logs carry no bodies and no headers anyway).
 */
const REDACTED_PATHS = ['password', '*.password', '*.*.password', 'token', '*.token', 'authorization', '*.authorization', '*.headers.authorization', '*.headers.cookie'];

/** Loggers made without a destination: they write to standard output (and so may their access lines, see access-log.ts). */
const toStandardOutput = new WeakSet<Logger>();

/** One structured logger per process; `component` tells which part wrote a line. */
export function createLogger(component: string, level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { component, pid: process.pid }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (destination) return pino(options, destination);
  const logger = pino(options);
  toStandardOutput.add(logger);
  return logger;
}

/** True when `logger`, or the logger it is a child of, was made without a destination. */
export function writesToStandardOutput(logger: Logger): boolean {
  // A pino child is made with Object.create(parent): its parents are its prototypes.
  for (let candidate: object | null = logger; candidate !== null; candidate = Object.getPrototypeOf(candidate) as object | null) {
    if (toStandardOutput.has(candidate as Logger)) return true;
  }
  return false;
}
