import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Fields that never reach a log line whatever object is logged: passwords and their hashes,
 * tokens and authorization headers (access logs carry no bodies and no headers anyway).
 */
const REDACTED_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.cookie',
];

/** One structured logger per process; `component` tells which part wrote a line. */
export function createLogger(component: string, level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { component, pid: process.pid }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
