/**
 * RideShare deployed across the hosts of a test bed exactly as docs/hosts.md tells an operator:
 * each host's DATA_DIR (a folder of the bed), the secrets made once with `npm run secrets` on the
 * first host and copied to the others, and on each host, inside its namespace and under its own
 * host name, `npm start -- --host <name>` with RIDESHARE_HOSTS and RIDESHARE_PLACEMENT exported.
 * A host counts as up when its `npm start` logs "RideShare host <name> is up".
 *
 * Everything runs through the bed's `exec`, so a crash of the host (bed.crash) kills it with the
 * rest, and the bed's teardown kills whatever is left and removes the folders.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rabbitNodeDirOf } from '../../src/infra/host-servers.ts';
import { clusterNodeCli, rabbitNodeName } from '../../src/infra/rabbitmq-cluster-node.ts';
import { RideShareError } from '../../src/shared/errors.ts';
import { waitFor } from '../../src/shared/processes.ts';
import type { HostPlan } from './bed-plan.ts';
import type { TestBed } from './TestBed.ts';
import { pidsIn } from './namespace-pids.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The three RabbitMQ nodes take 20-40 s to form here, and a loaded machine more. */
const UP_TIMEOUT_MS = 240_000;

export type Placement = 'seed' | 'ha';

interface RunningHost {
  child: ChildProcess;
  output: string;
}

export interface HostMemory {
  host: string;
  /** Resident KiB of every process in the host, and by program. */
  totalKiB: number;
  byProgram: Record<string, number>;
}

/** `<pid> <command line>`, for a process left behind (the pid alone if it is gone meanwhile). */
function describeProcess(pid: number): string {
  try {
    return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 200)}`;
  } catch {
    return String(pid);
  }
}

export class HostDeployment {
  readonly dataDirs = new Map<string, string>();
  /** Settings exported for one host's `npm start` only (a faked clock's), besides `settings`. */
  readonly hostSettings = new Map<string, Record<string, string>>();
  private readonly running = new Map<string, RunningHost>();

  constructor(
    private readonly bed: TestBed,
    readonly placement: Placement,
    /** Names the folders, so two deployments in one bed keep theirs apart. */
    private readonly label: string,
    /** A folder where each host's output is also appended (`<label>-<host>.log`), to read after a failed run; none by default. */
    private readonly logDir?: string,
    /** Settings of docs/hosts.md's "every other setting" exported on every host besides the plan's, e.g. SCALE_WINDOW_SECONDS. */
    private readonly settings: Record<string, string> = {},
    /** The bed's hosts that run RideShare; every one by default (a bed may also hold a client's host). */
    private readonly hostNames: readonly string[] = bed.hosts.map((host) => host.name),
  ) {}

  /** The bed's hosts this deployment runs on, in the bed's order. */
  private get hosts(): HostPlan[] {
    return this.bed.hosts.filter((host) => this.hostNames.includes(host.name));
  }

  /** RIDESHARE_HOSTS as docs/hosts.md writes it: name=address for every host, in the bed's order (users, rides, db). */
  get hostsSetting(): string {
    return this.hosts.map((host) => `${host.name}=${host.address}`).join(',');
  }

  /** Each host's DATA_DIR; the secrets made on the first and copied to the others (`cp -rp` standing for `scp -rp`). */
  prepare(): void {
    for (const host of this.hosts) this.dataDirs.set(host.name, this.bed.folder(`${this.label}-${host.name}`));
    const [first, ...others] = this.hosts.map((host) => host.name);
    const firstDir = this.dataDirs.get(first as string) as string;
    execFileSync('npm', ['run', '-s', 'secrets'], { cwd: REPO, env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: firstDir }, stdio: 'pipe' });
    for (const host of others) execFileSync('cp', ['-rp', path.join(firstDir, 'secrets'), this.dataDirs.get(host) as string]);
  }

  /** Starts the host with the documented command; resolves with the milliseconds until it was up. */
  async start(host: string): Promise<number> {
    const began = performance.now();
    const env = {
      ...this.settings,
      ...this.hostSettings.get(host),
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      DATA_DIR: this.dataDirs.get(host) as string,
      RIDESHARE_HOSTS: this.hostsSetting,
      RIDESHARE_PLACEMENT: this.placement,
    };
    const child = this.bed.exec(host, ['npm', 'start', '--', '--host', host], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const entry: RunningHost = { child, output: '' };
    const logFile = this.logDir === undefined ? undefined : path.join(this.logDir, `${this.label}-${host}.log`);
    // A folder named that does not exist yet is made, not a crash at the host's first output line.
    if (this.logDir !== undefined) mkdirSync(this.logDir, { recursive: true });
    const keep = (chunk: Buffer) => {
      entry.output = (entry.output + chunk.toString()).slice(-200_000);
      if (logFile) appendFileSync(logFile, chunk);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.running.set(host, entry);
    const up = `RideShare host ${host} is up`;
    const done = await waitFor(() => entry.output.includes(up) || child.exitCode !== null || child.signalCode !== null, UP_TIMEOUT_MS, 100);
    if (!done || !entry.output.includes(up)) {
      throw new RideShareError('INTERNAL', `host ${host} did not come up (${child.exitCode ?? child.signalCode ?? 'still starting'}):\n${entry.output.slice(-4000)}\n${this.serverLogTails(host)}`);
    }
    return performance.now() - began;
  }

  /**
   * The last lines of the host's RabbitMQ node and ZooKeeper server logs: what a host stuck before
   * "up" was waiting for is there, not in its `npm start` output (and the folder goes with the bed).
   */
  private serverLogTails(host: string): string {
    const dataDir = this.dataDirs.get(host) as string;
    const logs = [
      path.join(rabbitNodeDirOf(dataDir), 'log', `${rabbitNodeName(host)}.log`),
      path.join(rabbitNodeDirOf(dataDir), 'stdout.log'),
      path.join(dataDir, 'servers', 'zookeeper-server', 'stdout.log'),
    ];
    return logs
      .map((file) => {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch {
          return `${file}: none`;
        }
        return `--- ${file}, last lines:\n${text.split('\n').slice(-40).join('\n')}`;
      })
      .join('\n');
  }

  /** What the host's `npm start` printed (its own lines and its children's). */
  output(host: string): string {
    return this.running.get(host)?.output ?? '';
  }

  /** SIGTERM to the host's `npm start`, as Ctrl-C or `kill` would; resolves with the ms until nothing is left in the host. */
  async stop(host: string, timeoutMs = 60_000): Promise<number> {
    const began = performance.now();
    this.running.get(host)?.child.kill('SIGTERM');
    const namespace = this.bed.host(host).namespace;
    if (!(await waitFor(() => pidsIn(namespace).length === 0, timeoutMs, 100)))
      throw new RideShareError('TIMEOUT', `host ${host}: processes left ${timeoutMs} ms after SIGTERM: ${pidsIn(namespace).map(describeProcess).join('; ')}`);
    const elapsed = performance.now() - began;
    // The workers' own logs stay in DATA_DIR, which goes with the bed: kept beside the host's output.
    const logs = path.join(this.dataDirs.get(host) as string, 'logs');
    if (this.logDir && existsSync(logs)) cpSync(logs, path.join(this.logDir, `${this.label}-${host}-logs`), { recursive: true });
    const rabbitLogs = path.join(rabbitNodeDirOf(this.dataDirs.get(host) as string), 'log');
    if (this.logDir && existsSync(rabbitLogs)) cpSync(rabbitLogs, path.join(this.logDir, `${this.label}-${host}-rabbitmq`), { recursive: true });
    return elapsed;
  }

  /** `rabbitmqctl <args>` against the host's own RabbitMQ node, run in the host as docs/hosts.md's operator would. */
  rabbitmqctl(host: string, args: readonly string[]): Promise<string> {
    const cli = clusterNodeCli(rabbitNodeDirOf(this.dataDirs.get(host) as string), rabbitNodeName(host));
    return this.bed.run(host, [...cli('rabbitmqctl'), ...args], { timeoutMs: 60_000 });
  }

  memory(host: string): HostMemory {
    const byProgram: Record<string, number> = {};
    let totalKiB = 0;
    for (const pid of pidsIn(this.bed.host(host).namespace)) {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
        const program = /^Name:\s+(.+)$/m.exec(status)?.[1] ?? '?';
        byProgram[program] = (byProgram[program] ?? 0) + kib;
        totalKiB += kib;
      } catch {
        // gone meanwhile
      }
    }
    return { host, totalKiB, byProgram };
  }
}
