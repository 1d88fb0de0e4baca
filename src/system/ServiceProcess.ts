/**
 * One run of one of the system's own processes (orchestrator, users, rides, gateway): its own
 * process group (a terminal's Ctrl-C reaches `npm start` alone, which then stops it in order),
 * output passed through, ready when its port accepts connections, stopped with SIGTERM to the
 * group, escalating to SIGKILL after a grace period. Restarts are KeptService's business.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { childEnvironment } from '../shared/child-environment.ts';
import { nodeArgs, PROJECT_ROOT } from '../shared/entry-points.ts';
import { signalGroup, waitForPort } from '../shared/processes.ts';
import { RideShareError } from '../shared/errors.ts';
const DEFAULT_STOP_GRACE_MS = 10_000;

export interface ServiceProcessOptions {
  name: string;
  /** The entry point, absolute or relative to the project root; a .ts file runs through tsx. */
  entry: string;
  port: number;
  /** Its own settings, on top of those it inherits. */
  env: Record<string, string>;
  /**
   * The names of this process's variables it also gets, besides PATH, HOME, NODE_* and the other
   * common ones (src/shared/child-environment.ts); nothing else of our environment reaches it.
   */
  inherit?: readonly string[];
  readyTimeoutMs?: number;
  /** SIGTERM → SIGKILL; the orchestrator needs time to stop its workers. */
  stopGraceMs?: number;
  /** Where its output goes: appended to this file; passed through to ours unless given. */
  logFile?: string;
}

export type ServiceExitListener = (name: string, code: number | null, signal: NodeJS.Signals | null) => void;

export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly options: ServiceProcessOptions) {}

  get name(): string {
    return this.options.name;
  }

  /** The pid while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns it and resolves once its port accepts connections; rejects if it exits first. */
  async start(onExit: ServiceExitListener): Promise<void> {
    const output = this.options.logFile === undefined ? 'inherit' : fs.openSync(this.options.logFile, 'a');
    const child = spawn(process.execPath, nodeArgs(this.options.entry), {
      cwd: PROJECT_ROOT,
      env: childEnvironment(this.options.inherit ?? [], this.options.env),
      stdio: ['ignore', output, output],
      detached: true,
    });
    if (typeof output === 'number') fs.closeSync(output);
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.child = undefined;
        // A helper the service forked (the loader's esbuild) must not outlive it.
        if (child.pid) signalGroup(child.pid, 'SIGKILL');
        onExit(this.options.name, code, signal);
        resolve();
      }),
    );
    child.once('error', () => undefined); // reported as an exit, or as a start that never listens
    await waitForPort(this.options.port, {
      timeoutMs: this.options.readyTimeoutMs ?? 90_000,
      abandon: () => (this.child === child ? undefined : `${this.options.name} exited during start-up`),
    }).catch((error: unknown) => {
      throw new RideShareError('START_FAILED', `${this.options.name} did not start: ${(error as Error).message}`);
    });
  }

  /**
   * `signal` (SIGTERM: drain first, as for a restart; SIGINT: stop at once) to its group, SIGKILL
   * after the grace; resolves once it has exited.
   */
  async stop(graceMs = this.options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS, signal: 'SIGTERM' | 'SIGINT' = 'SIGTERM'): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    signalGroup(pid, signal);
    const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL to its whole group, now; resolves once it has exited. */
  kill(): Promise<void> {
    const pid = this.child?.pid;
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
    return this.exited;
  }
}
