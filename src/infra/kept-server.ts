/**
 * One of a host's servers (its RabbitMQ node, its ZooKeeper server) as a process group of its own,
 * kept running: once `keep()` is called (the host is up), a server that exits without being asked
 * to is started again with the same command and folder, so it rejoins its cluster or ensemble
 * with its data, after a pause that doubles from RESPAWN_MIN_MS to RESPAWN_MAX_MS while it keeps
 * dying young (a server that ran RESPAWN_RESET_MS starts over from the shortest). Before `keep()`,
 * an exit is the start's failure (`exited()` says so) and nothing is started again.
 *
 * Stopping is SIGTERM to the server, then SIGKILL to its group after the grace; a server exiting
 * with this process is killed too (killGroupAtExit).
 */
import type { ChildProcess } from 'node:child_process';
import { RideShareError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { killGroupAtExit, signalGroup, spawnGroupLeader, terminate } from '../shared/processes.ts';
import { withTimeout } from '../shared/timeout.ts';
import { monotonicNow } from '../shared/monotonic.ts';

const CLEAN_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
export const RESPAWN_MIN_MS = 1000;
export const RESPAWN_MAX_MS = 30_000;
export const RESPAWN_RESET_MS = 60_000;
/** How long restart() waits for the killed server to be gone before starting the next. */
const RESTART_EXIT_WAIT_MS = 10_000;

export interface KeptServerOptions {
  /** What it is, for the logs ("RabbitMQ node rabbit@users"). */
  name: string;
  argv: string[];
  cwd: string;
  /** Its output; started afresh on the first start, appended to on a restart. */
  logFile: string;
  graceMs: number;
  logger: Logger;
}

export class KeptServer {
  #child: ChildProcess;
  #pid: number;
  #startedAt = monotonicNow();
  #kept = false;
  #stopping = false;
  #respawnMs = RESPAWN_MIN_MS;
  #respawnTimer: NodeJS.Timeout | undefined;
  /** Set while restart() replaces the server: the old one's exit is not a crash. */
  #replacing = false;
  #spare: () => void;
  /** How many times it was started again after exiting on its own. */
  restarts = 0;

  constructor(private readonly options: KeptServerOptions) {
    [this.#child, this.#pid] = this.#spawn(true);
    this.#spare = killGroupAtExit(this.#pid);
  }

  get pid(): number {
    return this.#pid;
  }

  /** Why the server is not running (it exited), or undefined while it runs. */
  exited(): string | undefined {
    const child = this.#child;
    return child.exitCode !== null || child.signalCode !== null ? `exited (${child.signalCode ?? `code ${child.exitCode}`}); see ${this.options.logFile}` : undefined;
  }

  /** From now on an exit that was not asked for starts the server again. */
  keep(): void {
    this.#kept = true;
    if (this.exited() !== undefined) this.#scheduleRespawn();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#respawnTimer);
    const pid = this.#pid;
    await terminate({
      signal: (signal) => (signal === 'SIGTERM' ? this.#child.kill(signal) : signalGroup(pid, signal)),
      alive: () => this.exited() === undefined,
      graceMs: this.options.graceMs,
    });
    // Helpers the server forked may outlive it.
    signalGroup(pid, 'SIGKILL');
    this.#spare();
  }

  /**
   * Kills the server (its whole group) and starts it again at once, kept or not: a server whose
   * start hangs. Resolves once the new one runs; nothing happens while a stop is under way.
   */
  async restart(): Promise<void> {
    if (this.#stopping) return;
    const old = this.#child;
    const gone = new Promise<void>((resolve) => (old.exitCode !== null || old.signalCode !== null ? resolve() : old.once('exit', () => resolve())));
    this.#replacing = true;
    clearTimeout(this.#respawnTimer);
    signalGroup(this.#pid, 'SIGKILL');
    this.#spare();
    try {
      // Its ports are free once it is gone; a SIGKILLed process goes at once, the bound is for safety.
      await withTimeout(gone, RESTART_EXIT_WAIT_MS, 'TIMEOUT', `${this.options.name} did not exit after SIGKILL`).catch(() => undefined);
    } finally {
      this.#replacing = false;
    }
    if (this.#stopping) return;
    [this.#child, this.#pid] = this.#spawn(false);
    this.#spare = killGroupAtExit(this.#pid);
    this.restarts += 1;
    this.options.logger.info({ server: this.options.name, pid: this.#pid }, 'started a server of this host again');
  }

  kill(): void {
    this.#stopping = true;
    clearTimeout(this.#respawnTimer);
    signalGroup(this.#pid, 'SIGKILL');
    this.#spare();
  }

  #spawn(fresh: boolean): [ChildProcess, number] {
    const [command, ...args] = this.options.argv as [string, ...string[]];
    const child = spawnGroupLeader(command, args, { cwd: this.options.cwd, env: { PATH: CLEAN_PATH }, logFile: this.options.logFile, freshLog: fresh });
    child.on('error', () => undefined);
    child.unref();
    if (child.pid === undefined) throw new RideShareError('START_FAILED', `could not run ${command}`);
    child.once('exit', (code, signal) => this.#exited(child, code, signal));
    this.#startedAt = monotonicNow();
    return [child, child.pid];
  }

  #exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.#child || this.#stopping || this.#replacing || !this.#kept) return;
    // Its helpers go with it, so the next one finds its ports free.
    signalGroup(this.#pid, 'SIGKILL');
    if (monotonicNow() - this.#startedAt >= RESPAWN_RESET_MS) this.#respawnMs = RESPAWN_MIN_MS;
    this.options.logger.warn({ server: this.options.name, pid: this.#pid, code, signal, restartInMs: this.#respawnMs }, 'a server of this host exited: starting it again');
    this.#scheduleRespawn();
  }

  #scheduleRespawn(): void {
    clearTimeout(this.#respawnTimer);
    this.#respawnTimer = setTimeout(() => {
      if (this.#stopping) return;
      this.#spare();
      try {
        [this.#child, this.#pid] = this.#spawn(false);
        this.#spare = killGroupAtExit(this.#pid);
        this.restarts += 1;
        this.options.logger.info({ server: this.options.name, pid: this.#pid }, 'started a server of this host again');
      } catch (error) {
        this.options.logger.error({ err: error, server: this.options.name }, 'could not start a server of this host again');
        this.#scheduleRespawn();
      }
    }, this.#respawnMs);
    this.#respawnTimer.unref();
    this.#respawnMs = Math.min(this.#respawnMs * 2, RESPAWN_MAX_MS);
  }
}
