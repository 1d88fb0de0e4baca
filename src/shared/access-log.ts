/**
 * Where a server's access lines go. Written one by one, every request cost a write() system call
 * of its own, the largest part of what the access line still cost once it skipped redaction. So
 * the access lines of a logger that writes to standard output are built here, in pino's shape,
 * and leave together once per turn of the event loop (src/shared/line-output.ts), and at exit.
 * Errors, warnings and slow requests go through the server's logger, at once, so an access line
 * may show a moment after a line logged later, and a process killed outright (SIGKILL) loses
 * the access lines of its last turn. A logger given a destination of its own (tests, tools)
 * keeps it for its access lines too.
 */
import { pino } from 'pino';
import { LineOutput } from './line-output.ts';
import { writesToStandardOutput, type Logger } from './logger.ts';

/** One per process, shared by its servers. */
let standardOutput: LineOutput | undefined;

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
  standardOutput ??= new LineOutput(1);
  const output = standardOutput;
  // The logger's fields as pino serializes them for its own lines (`,"component":…,"pid":…`);
  // bindings() would leave out the pid.
  const fields = String((logger as unknown as Record<symbol, unknown>)[pino.symbols.chindingsSym] ?? '');
  return (line) =>
    output.write(
      `{"level":30,"time":${Date.now()}${fields},"reqId":${JSON.stringify(line.reqId)},"method":${JSON.stringify(line.method)},"url":${JSON.stringify(line.url)},"status":${line.status},"ms":${line.ms},"msg":"request"}\n`,
    );
}
