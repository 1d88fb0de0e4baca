/**
 * Runs the real `npm start` (or `node --import tsx src/main.ts`) for a test: its own DATA_DIR,
 * cluster name and free ports, the test's RabbitMQ and ZooKeeper unless told otherwise, detached
 * like a terminal's foreground job (its own process group). Its processes are found in /proc by
 * the DATA_DIR or cluster name in their command line or environment, which is how a test checks
 * that nothing outlived a stop, and how cleanup kills whatever did, by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../../src/shared/ports.ts';
import { commandLine, identify, isSameProcess, listPids, sendSignal, waitFor, type ProcessIdentity } from '../../src/shared/processes.ts';
import { testServers } from '../inject.ts';
import { until } from '../replicas.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `dist`: `node dist/main.js` of an already built tree (a previous release, harness/previous-release.ts). */
export type Launcher = 'npm' | 'node' | 'dist';

export interface StartOptions {
  via: Launcher;
  /** Extra settings; a key set to undefined is removed (e.g. ZK_CONNECT, for a private ZooKeeper). */
  env?: Record<string, string | undefined>;
  /** How long until the gateway must answer. */
  upTimeoutMs?: number;
  /** The tree it runs from (default: this project). */
  root?: string;
}

export interface SystemProcess extends ProcessIdentity {
  args: string[];
}

export class RunningSystem {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly logFd: number;

  constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly cluster: string,
    readonly ports: { gateway: number; orchestrator: number; users: number; rides: number },
    readonly logFile: string,
    logFd: number,
  ) {
    this.logFd = logFd;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The launched process: npm, or main.ts itself; it leads the process group. */
  get pid(): number {
    return this.child.pid as number;
  }

  get gatewayUrl(): string {
    return `http://127.0.0.1:${this.ports.gateway}`;
  }

  get orchestratorUrl(): string {
    return `http://127.0.0.1:${this.ports.orchestrator}`;
  }

  /** Every live process that belongs to this system: its DATA_DIR or cluster name in its argv or environment. */
  processes(): SystemProcess[] {
    const marks = [this.dataDir, this.cluster];
    const found: SystemProcess[] = [];
    for (const pid of listPids()) {
      const identity = identify(pid);
      if (!identity) continue;
      const args = commandLine(pid) ?? [];
      const text = `${args.join('\0')}\0${readEnviron(pid)}`;
      if (marks.some((mark) => text.includes(mark))) found.push({ ...identity, args });
    }
    return found;
  }

  /**
   * The process of the system running `entry` (e.g. 'src/main.ts', 'src/dbaas/orchestrator/main.ts'),
   * from the source or from its compiled twin in dist/ (what `npm start` runs).
   */
  processRunning(entry: string): SystemProcess | undefined {
    // Compiled, a module is its .js twin in dist/; the worker runs as one bundle (scripts/build.mjs).
    const compiled = entry.replace(/^src\//, 'dist/');
    const twins = [entry, compiled.replace(/\.ts$/, '.js'), compiled.replace(/\.ts$/, '.bundle.js')];
    const runs = (arg: string) => twins.some((twin) => arg === twin || arg.endsWith(`/${twin}`));
    return this.processes().find((proc) => proc.args.some(runs));
  }

  mainProcess(): SystemProcess {
    const main = this.processRunning('src/main.ts');
    if (!main) throw new Error('main.ts is not running');
    return main;
  }

  /** Resolves once nothing of the system is left; rejects with a list of survivors after `timeoutMs`. */
  async waitUntilGone(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = this.processes();
      if (left.length === 0) return;
      if (Date.now() >= deadline) {
        throw new Error(`still running after ${timeoutMs} ms:\n${left.map((proc) => `  ${proc.pid} ${proc.args.join(' ').slice(0, 160)}`).join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  output(): string {
    return fs.readFileSync(this.logFile, 'utf8');
  }

  /** The way a user stops it (SIGINT to the group leader), then whatever is left killed and the data removed. */
  async stop(): Promise<void> {
    sendSignal(this.pid, 'SIGINT');
    await this.waitUntilGone(30_000).catch(() => undefined);
    await this.cleanUp();
  }

  /** Whatever is left is killed, by pid (identity-checked), and the data removed. */
  async cleanUp(): Promise<void> {
    for (let round = 0; round < 3; round++) {
      const left = this.processes();
      if (left.length === 0) break;
      for (const proc of left) if (isSameProcess(proc)) sendSignal(proc.pid, 'SIGKILL');
      await waitFor(() => this.processes().length === 0, 200);
    }
    if (this.child.exitCode === null && this.child.signalCode === null) sendSignal(this.pid, 'SIGKILL');
    fs.closeSync(this.logFd);
    if (!process.env.KEEP_TEST_DATA) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function readEnviron(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return '';
  }
}

export function uniqueCluster(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Starts the system and resolves once the gateway answers HTTP. */
export async function startSystem(options: StartOptions): Promise<RunningSystem> {
  const { amqpUrl, zkConnect } = testServers();
  const cluster = uniqueCluster(`sys-${options.via}`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));
  const [gateway, orchestrator, users, rides] = (await freePorts(4)) as [number, number, number, number];
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATA_DIR: dataDir,
    RIDESHARE_CLUSTER: cluster,
    GATEWAY_PORT: String(gateway),
    ORCHESTRATOR_PORT: String(orchestrator),
    USERS_PORT: String(users),
    RIDES_PORT: String(rides),
    AMQP_URL: amqpUrl,
    ZK_CONNECT: zkConnect,
    // The test ZooKeeper ticks every 200 ms: a killed orchestrator's lease goes within a second.
    ZK_SESSION_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'info',
    ...options.env,
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  const logFile = path.join(dataDir, 'npm-start.log');
  const logFd = fs.openSync(logFile, 'a');
  const [command, args] = options.via === 'npm' ? ['npm', ['start']] : options.via === 'dist' ? [process.execPath, ['dist/main.js']] : [process.execPath, ['--import', 'tsx', 'src/main.ts']];
  const child = spawn(command as string, args as string[], { cwd: options.root ?? PROJECT_ROOT, env, detached: true, stdio: ['ignore', logFd, logFd] });
  const system = new RunningSystem(child, dataDir, cluster, { gateway, orchestrator, users, rides }, logFile, logFd);
  try {
    await until(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`npm start exited early:\n${system.output().slice(-3000)}`);
        return (await answers(system.gatewayUrl)) ? true : undefined;
      },
      options.upTimeoutMs ?? 60_000,
      'the gateway to answer',
    );
  } catch (error) {
    await system.cleanUp();
    throw error;
  }
  return system;
}

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/api/v1/rides?source=1&destination=2`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

/** The pid of the system's process that was given `variable=value` (its own port). */
export function pidWith(system: RunningSystem, variable: string, value: number): number | undefined {
  for (const pid of listPids()) {
    let environ: string;
    try {
      environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      continue;
    }
    if (environ.includes(`\0${variable}=${value}\0`) && environ.includes(system.dataDir)) return pid;
  }
  return undefined;
}

/** The server at `url` answers GET /ready with 200 within 2 s. */
export async function ready(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}
