import { pino, type Logger } from 'pino';

export type { Logger };

/** One structured logger per process; `component` tells which part wrote a line. */
export function createLogger(component: string, level: string): Logger {
  return pino({ level, base: { component, pid: process.pid } });
}
