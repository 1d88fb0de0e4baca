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

/** What an access line tells (docs/observing.md): fixed fields, none of them a secret. */
export interface AccessLine {
  reqId: string;
  method: string;
  /** Already abbreviated (logged-url.ts). */
  url: string;
  status: number;
  ms: number;
}

/** Writes one access line, at info. */
export type AccessLog = (line: AccessLine) => void;

/**
 * The access log of a server logging through `logger`, without redaction (the line's fields are
 * fixed and hold no secret: no headers, no body, the URL cut short). To standard output the line
 * is built here, as pino would build it (level, time, the logger's fields, the line's, msg):
 * pino's general formatting was most of what the line still cost once batched.
 */
export function accessLogOf(logger: Logger): AccessLog {
  if (!writesToStandardOutput(logger)) {
    const child = logger.child({}, { level: 'info', redact: [] });
    return (line) => child.info(line, 'request');
  }
  const stream = bufferedStandardOutput();
  // The logger's fields as pino serializes them for its own lines (`,"component":…,"pid":…`);
  // bindings() would leave out the pid.
  const fields = String((logger as unknown as Record<symbol, unknown>)[pino.symbols.chindingsSym] ?? '');
  return (line) =>
    stream.write(
      `{"level":30,"time":${Date.now()}${fields},"reqId":${JSON.stringify(line.reqId)},"method":${JSON.stringify(line.method)},"url":${JSON.stringify(line.url)},"status":${line.status},"ms":${line.ms},"msg":"request"}\n`,
    );
}
