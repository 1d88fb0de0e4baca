/**
 * The one home of what this project does to OS processes: liveness (a zombie counts as dead),
 * identities that survive pid reuse, starting a process group, signals to a process or its group,
 * TERM → KILL escalation, groups that must not outlive this process, scanning /proc, and waiting
 * for a port. Linux only, like the rest of the system.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { sleep } from './timeout.ts';
import { RideShareError } from './errors.ts';
import { monotonicNow } from './monotonic.ts';

/**
 * A process as it was when first seen: a pid alone may since have been handed to someone else,
 * but pid + start time (clock ticks after boot, /proc/<pid>/stat field 22) never repeats.
 */
export interface ProcessIdentity {
  pid: number;
  startTime: string;
}

interface ProcStat {
  state: string;
  pgid: number;
  startTime: string;
}

/** /proc/<pid>/stat, split after the command name (which may itself hold spaces and parentheses). */
function readStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields from 3 (state) on; field N is at index N - 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [state, pgid, startTime] = [fields[0], fields[2], fields[19]];
  if (state === undefined || pgid === undefined || startTime === undefined) return undefined;
  return { state, pgid: Number(pgid), startTime };
}

/** Alive and not a zombie (a killed orphan can linger as one until its reaper gets to it). */
export function isAlive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** The identity of a live process, or undefined when it is gone (or a zombie). */
export function identify(pid: number): ProcessIdentity | undefined {
  const stat = readStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return undefined;
  return { pid, startTime: stat.startTime };
}

/** Still the very process that was identified, alive. */
export function isSameProcess(identity: ProcessIdentity): boolean {
  return identify(identity.pid)?.startTime === identity.startTime;
}

export function processGroupOf(pid: number): number | undefined {
  return readStat(pid)?.pgid;
}

/** The argv of a process as /proc shows it; undefined when gone or unreadable. */
export function commandLine(pid: number): string[] | undefined {
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    // Each argument ends with a NUL, so the split leaves an empty string at the end.
    if (args.at(-1) === '') args.pop();
    return args;
  } catch {
    return undefined;
  }
}

/** Every pid in /proc, this process excluded. */
export function listPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/** Sends a signal; false when there was no one to receive it. */
export function sendSignal(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Signals every process of the group led by `pgid` (helpers a process forked included). */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  return sendSignal(-pgid, signal);
}

/**
 * Signals a process (and its group, when it leads one) only if it is still the process that was
 * identified: a reused pid belongs to a stranger and is left alone. False when nothing was sent.
 */
export function signalIdentified(identity: ProcessIdentity, signal: NodeJS.Signals, options: { group?: boolean; check?: () => boolean } = {}): boolean {
  if (!isSameProcess(identity)) return false;
  if (options.check && !options.check()) return false;
  if (options.group && processGroupOf(identity.pid) === identity.pid) return signalGroup(identity.pid, signal);
  return sendSignal(identity.pid, signal);
}

export interface GroupLeaderOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Where its stdout and stderr go: appended, unless `freshLog`. */
  logFile: string;
  freshLog?: boolean;
}

/**
 * Starts `command` at the head of a process group of its own, so that a signal to the group
 * reaches the helpers it forks, and a terminal's signals to our group do not reach it: stdin
 * closed, stdout and stderr into the log file. A spawn failure comes as the child's 'error' event.
 */
export function spawnGroupLeader(command: string, args: string[], options: GroupLeaderOptions): ChildProcess {
  // Logs name workers, queues and errors: for the system's user alone, whatever the umask.
  const log = fs.openSync(options.logFile, options.freshLog ? 'w' : 'a', 0o600);
  try {
    return spawn(command, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', log, log] });
  } finally {
    fs.closeSync(log);
  }
}

const killedAtExit = new Set<number>();
let exitHooked = false;

/**
 * SIGKILLs the group led by `pgid` when this process exits, unless the function returned is
 * called first: for a server or a child that must not outlive a process exiting without stopping it.
 */
export function killGroupAtExit(pgid: number): () => void {
  killedAtExit.add(pgid);
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const leader of killedAtExit) signalGroup(leader, 'SIGKILL');
    });
  }
  return () => killedAtExit.delete(pgid);
}

/** Polls until `done()` holds or `timeoutMs` passes; says whether it held. */
export async function waitFor(done: () => boolean, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = monotonicNow() + timeoutMs;
  while (!done()) {
    if (monotonicNow() >= deadline) return false;
    await sleep(Math.min(intervalMs, Math.max(1, deadline - monotonicNow())));
  }
  return true;
}

export interface TerminateOptions {
  /** Delivers a signal to whatever is being stopped (a pid, a group, an identity-checked pid). */
  signal: (signal: NodeJS.Signals) => void;
  /** Whether it is still there. */
  alive: () => boolean;
  /** How long SIGTERM is given before SIGKILL. */
  graceMs: number;
  /** How long to wait after SIGKILL before giving up (default 5 s). */
  killWaitMs?: number;
  onEscalate?: () => void;
}

/** SIGTERM, then SIGKILL after the grace; resolves true once gone, false if even SIGKILL did not do it in time. */
export async function terminate(options: TerminateOptions): Promise<boolean> {
  if (!options.alive()) return true;
  options.signal('SIGTERM');
  if (await waitFor(() => !options.alive(), options.graceMs)) return true;
  options.onEscalate?.();
  options.signal('SIGKILL');
  return waitFor(() => !options.alive(), options.killWaitMs ?? 5000);
}

/** One TCP connect: true if something accepts on the port. */
export function portAccepts(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (accepted: boolean) => {
      socket.destroy();
      resolve(accepted);
    };
    socket.setTimeout(timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

export interface WaitForPortOptions {
  host?: string;
  timeoutMs: number;
  /** Checked before each attempt: a reason to give up at once (e.g. the process exited). */
  abandon?: () => string | undefined;
  intervalMs?: number;
}

/** Resolves once the port accepts connections; rejects on the deadline or when `abandon` says so. */
export async function waitForPort(port: number, options: WaitForPortOptions): Promise<void> {
  const deadline = monotonicNow() + options.timeoutMs;
  for (;;) {
    const reason = options.abandon?.();
    if (reason) throw new RideShareError('START_FAILED', reason);
    if (await portAccepts(port, options.host)) return;
    if (monotonicNow() >= deadline) throw new RideShareError('START_FAILED', `nothing listened on port ${port} within ${options.timeoutMs} ms`);
    await sleep(options.intervalMs ?? 100);
  }
}
