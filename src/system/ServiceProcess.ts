/**
 * One of the system's own processes (orchestrator, users, rides, gateway) run by `npm start`:
 * its own process group, output passed through, ready when its port accepts connections, and
 * stopped with SIGTERM, escalating to SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { sleep } from '../shared/timeout.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServiceProcessOptions {
  name: string;
  /** The entry point, relative to the project root. */
  entry: string;
  port: number;
  env: Record<string, string>;
  readyTimeoutMs?: number;
  /** SIGTERM → SIGKILL; the orchestrator needs time to stop its workers. */
  stopGraceMs?: number;
}

export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly options: ServiceProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(onExit: (name: string, code: number | null) => void): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', this.options.entry], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true,
    });
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.child = undefined;
        onExit(this.options.name, code);
        resolve();
      }),
    );
    await this.waitForPort();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    signalGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(child.pid as number, 'SIGKILL'), this.options.stopGraceMs ?? 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  private async waitForPort(): Promise<void> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 90_000);
    while (Date.now() < deadline) {
      if (!this.child) throw new Error(`${this.options.name} exited during start-up`);
      if (await accepts(this.options.port)) return;
      await sleep(100);
    }
    throw new Error(`${this.options.name} did not listen on port ${this.options.port} in time`);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
