/**
 * An orchestrator as a real process (`node --import tsx src/dbaas/orchestrator/main.ts`), so a
 * test can SIGKILL it, under a small process manager: when it exits, for whatever reason, it is
 * started again on the same port, as an operator's systemd unit or `npm start` would. The
 * service must heal around it; the harness only plays the part of the machine's init.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { entryPoint, nodeArgs, PROJECT_ROOT } from '../../src/shared/entry-points.ts';
import { killGroupAtExit, sendSignal, signalGroup, spawnGroupLeader, waitFor, waitForPort } from '../../src/shared/processes.ts';

const MAIN = entryPoint('dbaas/orchestrator/main.ts');

/** Settings of src/shared/config.ts the harness sets itself; inherited values must not leak in. */
const OWN_SETTINGS = [
  'AMQP_URL',
  'ZK_CONNECT',
  'ZK_AUTH',
  'DATA_DIR',
  'RIDESHARE_CLUSTER',
  'ORCHESTRATOR_PORT',
  'ZK_SESSION_TIMEOUT_MS',
  'RPC_TIMEOUT_MS',
  'READ_WAIT_MS',
  'LOG_LEVEL',
  'WORKER_RUNTIME',
  'WORKER_IMAGE',
  'SCALE_WINDOW_SECONDS',
  'READS_PER_SLAVE',
  'MAX_SLAVES',
  'BIND_HOST',
  'ORCHESTRATOR_URL',
  'HTTP_TIMEOUT_MS',
  'RIDESHARE_AUTH',
  'SERVICE_TOKEN',
  'ADMIN_TOKEN',
  'CLUSTER_KEY',
];

export interface OrchestratorExit {
  at: number;
  pid: number;
  how: string;
  /** Killed by the harness (a fault or the end of the test) rather than exiting by itself. */
  killed: boolean;
}

export interface OrchestratorProcessOptions {
  /** 'a', 'b': names its log file and its lines in reports. */
  name: string;
  port: number;
  env: Record<string, string>;
  logFile: string;
  /** Pause before a restart, as a process manager's RestartSec. */
  restartDelayMs?: number;
  /** Harness modules node loads before the orchestrator (`--import`), e.g. the fake clock. */
  preload?: string[];
  /**
   * Another build to run instead of this checkout (a previous release, harness/previous-release.ts):
   * its compiled orchestrator, from its own folder (the workers it starts are then of that build too).
   */
  root?: string;
}

export class OrchestratorProcess {
  readonly exits: OrchestratorExit[] = [];
  readonly starts: { at: number; pid: number }[] = [];
  private child: ChildProcess | undefined;
  private alive = false;
  private gone: Promise<void> = Promise.resolve();
  private stopped = true;
  private killedByHarness = false;
  private held = false;
  private listening = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private options: OrchestratorProcessOptions) {}

  get name(): string {
    return this.options.name;
  }

  get url(): string {
    return `http://127.0.0.1:${this.options.port}`;
  }

  get pid(): number | undefined {
    return this.alive ? this.child?.pid : undefined;
  }

  get isRunning(): boolean {
    return this.alive;
  }

  /** Running and listening on its port since its last start: clients can be sent to it. */
  get isServing(): boolean {
    return this.alive && this.listening;
  }

  get logFile(): string {
    return this.options.logFile;
  }

  /** A new cluster (a harness reset): the next start uses these settings. */
  reconfigure(options: Partial<OrchestratorProcessOptions>): void {
    this.options = { ...this.options, ...options };
  }

  /** Starts it and keeps it running: every exit is followed by a restart until stop(). */
  start(): void {
    this.stopped = false;
    this.spawnOnce();
  }

  /** True once it serves (a supervising orchestrator listens only once its workers are up), within `withinMs`. */
  waitHealthy(withinMs: number): Promise<boolean> {
    return waitFor(() => this.isServing, withinMs, 100);
  }

  /** SIGKILL (the fault): the process manager brings it back unless restarts are held. */
  async kill(): Promise<number | undefined> {
    const pid = this.pid;
    if (pid === undefined) return undefined;
    this.killedByHarness = true;
    signalGroup(pid, 'SIGKILL');
    sendSignal(pid, 'SIGKILL');
    await this.gone;
    return pid;
  }

  /**
   * SIGTERM, as an operator restarting it: it drains, hands the workers to a running peer (or
   * stops them when it is the last one) and exits; the process manager brings it back unless
   * restarts are held. Escalates to SIGKILL after `graceMs`.
   */
  async terminate(graceMs = 30_000): Promise<number | undefined> {
    const pid = this.pid;
    if (pid === undefined) return undefined;
    this.killedByHarness = true;
    sendSignal(pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
    await this.gone;
    clearTimeout(timer);
    return pid;
  }

  /** No restart until release(): a standby must be seen taking over on its own. */
  holdRestarts(): void {
    this.held = true;
  }

  releaseRestarts(): void {
    this.held = false;
    if (!this.alive && !this.stopped) this.scheduleRestart();
  }

  /** Stops it for good (SIGKILL: its workers are the test's to sweep). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.kill();
  }

  private spawnOnce(): void {
    if (this.alive || this.stopped) return;
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !OWN_SETTINGS.includes(key)));
    Object.assign(env, this.options.env, { ORCHESTRATOR_PORT: String(this.options.port) });
    // Its own process group: a SIGKILL of the group cannot reach the workers, which have theirs.
    const root = this.options.root ?? PROJECT_ROOT;
    const args = nodeArgs(this.options.root === undefined ? MAIN : path.join(this.options.root, 'dist', 'dbaas', 'orchestrator', 'main.js'));
    // A compiled entry gets tsx's loader anyway when something TypeScript is preloaded (the fake clock).
    if (args.length === 1 && this.options.preload?.some((module) => module.endsWith('.ts'))) args.unshift('--import', 'tsx');
    const preloads = (this.options.preload ?? []).flatMap((module) => ['--import', module]);
    // After tsx's own --import (a preload may be TypeScript), before the entry point.
    args.splice(args.length - 1, 0, ...preloads);
    const child = spawnGroupLeader(process.execPath, args, { cwd: root, env, logFile: this.options.logFile });
    const pid = child.pid;
    if (pid === undefined) {
      child.once('error', () => undefined);
      this.scheduleRestart();
      return;
    }
    child.unref();
    const spare = killGroupAtExit(pid);
    this.child = child;
    this.alive = true;
    this.listening = false;
    this.killedByHarness = false;
    this.starts.push({ at: Date.now(), pid });
    void this.watchListening(child);
    this.gone = new Promise((resolve) =>
      child.once('exit', (code, sig) => {
        this.alive = false;
        this.listening = false;
        spare();
        this.exits.push({ at: Date.now(), pid, how: sig ?? `code ${code}`, killed: this.killedByHarness });
        resolve();
        if (!this.stopped && !this.held) this.scheduleRestart();
      }),
    );
  }

  /**
   * Clients are sent only to orchestrators that listen, as a load balancer's health check would.
   * However long its start takes: the watch ends only when it listens or exits.
   */
  private async watchListening(child: ChildProcess): Promise<void> {
    const exited = () => (this.child === child && this.alive ? undefined : 'exited');
    const listens = await waitForPort(this.options.port, { timeoutMs: Number.POSITIVE_INFINITY, abandon: exited }).then(
      () => true,
      () => false,
    );
    if (listens && !exited()) this.listening = true;
  }

  private scheduleRestart(): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => this.spawnOnce(), this.options.restartDelayMs ?? 300);
  }
}
