/**
 * A fake wall clock for one orchestrator process, loaded with `node --import` by the fault
 * harness only (never by src/ or production): Date.now() and new Date() run ahead of or behind
 * the machine's clock by the number of milliseconds written in the file that
 * RIDESHARE_FAULT_CLOCK_FILE names, re-read every 100 ms and at once on SIGUSR2. The monotonic
 * clocks (performance.now, timers) are left alone, as a stepped system clock leaves them. The
 * variable is the harness's own: an orchestrator gives its workers an allow-listed environment
 * without it, so their clocks stay true.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLOCK_FILE_VARIABLE = 'RIDESHARE_FAULT_CLOCK_FILE';

/** What the orchestrators are started with `--import` of. */
export const CLOCK_MODULE = fileURLToPath(import.meta.url);

const RE_READ_MS = 100;

/** Where orchestrator `name` of a cluster reads its clock offset. */
export function clockFileOf(dataDir: string, name: string): string {
  return path.join(dataDir, `clock-offset-${name}`);
}

/** Steps the clock of the orchestrator reading `file` by `offsetMs` (0: the true time); SIGUSR2 to `pid` makes it take effect at once. */
export function setClockOffset(file: string, offsetMs: number, pid?: number): void {
  fs.writeFileSync(file, `${offsetMs}\n`, { mode: 0o600 });
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGUSR2');
    } catch {
      // Gone: its restart reads the file anyway.
    }
  }
}

function readOffset(file: string): number {
  try {
    const value = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(value) ? value : 0;
  } catch {
    return 0;
  }
}

function installFakeClock(file: string): void {
  const TrueDate = Date;
  const trueNow = Date.now.bind(Date);
  let offsetMs = readOffset(file);
  const reRead = () => (offsetMs = readOffset(file));
  setInterval(reRead, RE_READ_MS).unref();
  process.on('SIGUSR2', reRead);

  type DateArgs = [] | [value: number | string | Date] | [year: number, monthIndex: number, ...rest: number[]];
  class ShiftedDate extends TrueDate {
    constructor(...args: DateArgs) {
      if (args.length === 0) super(trueNow() + offsetMs);
      else if (args.length === 1) super(args[0]);
      else {
        // The spec's defaults for the parts not given: day 1, midnight.
        const [year = 0, monthIndex = 0, day = 1, hours = 0, minutes = 0, seconds = 0, ms = 0] = args as number[];
        super(year, monthIndex, day, hours, minutes, seconds, ms);
      }
    }

    static override now(): number {
      return trueNow() + offsetMs;
    }
  }
  // Date() called without new gives the time as a string: the shifted one.
  const callable = new Proxy(ShiftedDate, {
    apply: () => new ShiftedDate().toString(),
  });
  globalThis.Date = callable as DateConstructor;
}

const clockFile = process.env[CLOCK_FILE_VARIABLE];
if (clockFile) installFakeClock(clockFile);
