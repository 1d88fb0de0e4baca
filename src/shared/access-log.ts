/**
 * Where a server's access lines go. Written one by one, every request cost a write() system call
 * of its own, the largest part of what the access line still cost once it skipped redaction. So
 * the access lines of a logger that writes to standard output go through a buffer of their own,
 * written out once it holds ACCESS_BUFFER_BYTES, every ACCESS_FLUSH_MS, and at exit (pino flushes
 * its destinations then). Only access lines wait: errors, warnings and slow requests go through
 * the server's logger at once, so an access line may show up to ACCESS_FLUSH_MS after a line
 * logged later, and a process killed outright (SIGKILL) loses at most that much of them.
 * A logger given a destination of its own (tests, tools) keeps it for its access lines too.
 */
import { pino, type DestinationStream } from 'pino';
import { writesToStandardOutput, type Logger } from './logger.ts';

export const ACCESS_BUFFER_BYTES = 8 * 1024;
export const ACCESS_FLUSH_MS = 100;

/** One buffer per process, shared by its servers. */
let standardOutput: DestinationStream | undefined;

function bufferedStandardOutput(): DestinationStream {
  standardOutput ??= pino.destination({ dest: 1, sync: false, minLength: ACCESS_BUFFER_BYTES, periodicFlush: ACCESS_FLUSH_MS });
  return standardOutput;
}

/**
 * The logger of access lines for a server logging through `logger`: its fields (component, pid,
 * and any of a child), at info, without redaction, since the access line's fields are fixed and
 * hold no secret (no headers, no body, the URL cut short).
 */
export function accessLoggerOf(logger: Logger): Logger {
  if (!writesToStandardOutput(logger)) return logger.child({}, { level: 'info', redact: [] });
  // bindings() leaves out the base fields pino adds itself: the pid goes back in by hand.
  return pino({ level: 'info', base: { pid: process.pid, ...logger.bindings() } }, bufferedStandardOutput());
}
