/**
 * A test bed of hosts on this machine: each host a network namespace with its own address and
 * name, all joined by a bridge in a namespace of its own (see network.ts), and the faults a
 * multi-host deployment meets: partitions, one-way partitions, port cuts, loss, delay, a frozen
 * host, a crashed one. Tests and the soak use this class; `npm run hosts` (cli.ts) is the same
 * from a shell.
 *
 * Everything it makes is found again by name (`rs-<bed>-*`) or pid: `up()` records it in the
 * state file and, unless `keep`, ties it to this process, which tears it down however it exits
 * short of SIGKILL; after a SIGKILL, `down` (or the next `up` of the bed) removes the rest.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BadRequestError, RideShareError } from '../../src/shared/errors.ts';
import { identify } from '../../src/shared/processes.ts';
import { DEFAULT_STATE_DIR, planBed, type BedOptions, type BedPlan, type HostPlan } from './bed-plan.ts';
import { newState, ownerAlive, readState, writeState, type BedState } from './bed-state.ts';
import { run } from './commands.ts';
import { openDelayedPath, type DelayedPath, type DelayedPathOptions } from './delayed-path.ts';
import { startDelaySwitch, type BedDelay } from './delay-switch.ts';
import { createNetwork } from './network.ts';
import { healHost, injectNetworkFault, RABBITMQ_PORTS, ZOOKEEPER_PORTS, type Direction, type NetworkFault } from './network-faults.ts';
import { ensureNft } from './nft.ts';
import { tearDownWhenOwnerStops } from './owner.ts';
import { pidsIn } from './namespace-pids.ts';
import { crashHost, freezeHost, type CrashedHost, type CrashOptions, type FrozenHost } from './process-faults.ts';
import { bedStatus, type HostStatus } from './status.ts';
import { tearDown, type TeardownReport } from './teardown.ts';

export interface TestBedOptions extends BedOptions {
  /** Leave the bed up when this process exits (`npm run hosts -- up`); default false. */
  keep?: boolean;
}

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  stdio?: StdioOptions;
  /** Run under the host's own host name (a UTS namespace of its own); default true. */
  hostname?: boolean;
}

type Lifecycle = 'new' | 'up' | 'down';

export class TestBed {
  readonly plan: BedPlan;
  private readonly stateDir: string;
  private state: BedState | undefined;
  private lifecycle: Lifecycle = 'new';
  private releaseOwner: (() => void) | undefined;
  private readonly downHooks: (() => Promise<void>)[] = [];
  /** The delay between the hosts while one is on (one at a time: the ports leave br0 for it). */
  private hostDelay: BedDelay | undefined;

  constructor(private readonly options: TestBedOptions = {}) {
    this.plan = planBed(options);
    this.stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  }

  get hosts(): readonly HostPlan[] {
    return this.plan.hosts;
  }

  host(name: string): HostPlan {
    const host = this.plan.hosts.find((candidate) => candidate.name === name);
    if (!host) throw new BadRequestError(`no host '${name}' in bed ${this.plan.name} (hosts: ${this.plan.hosts.map((h) => h.name).join(', ')})`);
    return host;
  }

  address(name: string): string {
    return this.host(name).address;
  }

  /** Makes the bed; a bed of the same name left by a dead owner is removed first. Resolves with the time it took. */
  async up(): Promise<number> {
    if (this.lifecycle !== 'new') throw new RideShareError('CONFLICT', `bed ${this.plan.name} is ${this.lifecycle}; make a new TestBed`);
    const previous = readState(this.plan.stateFile);
    if (previous && ownerAlive(previous)) throw new RideShareError('TAKEN', `bed ${this.plan.name} is owned by running pid ${previous.owner?.pid}`);
    if (previous && !previous.owner) throw new RideShareError('TAKEN', `bed ${this.plan.name} is up and kept; npm run hosts -- down --bed ${this.plan.name} first`);
    tearDown(this.plan.name, this.stateDir);
    const began = performance.now();
    await ensureNft();
    this.state = newState(this.plan, !this.options.keep);
    // Recorded before anything is made: a SIGKILL half-way leaves a state file that names it all.
    writeState(this.state);
    if (!this.options.keep) this.releaseOwner = tearDownWhenOwnerStops(this.plan.name, this.stateDir);
    this.lifecycle = 'up';
    try {
      await createNetwork(this.plan);
    } catch (error) {
      await this.down();
      throw error;
    }
    return performance.now() - began;
  }

  /** Removes everything the bed made, its processes first; safe to call twice. */
  async down(): Promise<TeardownReport> {
    // Servers stop gracefully first (SIGTERM); a hook that fails still leaves the SIGKILLs below.
    const hooks = this.downHooks.splice(0);
    await Promise.allSettled(hooks.map((hook) => hook()));
    this.lifecycle = 'down';
    this.releaseOwner?.();
    this.releaseOwner = undefined;
    return tearDown(this.plan.name, this.stateDir);
  }

  /** Runs before `down()` kills what is left: how servers started in the bed get their SIGTERM. */
  beforeDown(hook: () => Promise<void>): void {
    this.downHooks.push(hook);
  }

  /**
   * Starts argv inside the host: its network, its /etc/hosts, and (by default) its host name.
   * The process is recorded in the state file, so `down` finds it even if it left the namespace.
   */
  exec(host: string, argv: readonly string[], options: ExecOptions = {}): ChildProcess {
    const child = spawn('ip', this.wrap(host, argv, options.hostname ?? true), { cwd: options.cwd, env: options.env ?? process.env, stdio: options.stdio ?? 'pipe' });
    child.once('spawn', () => this.record(host, child.pid));
    return child;
  }

  /** Runs argv inside the host to the end and returns its stdout; a failure names the command. */
  run(host: string, argv: readonly string[], options: { hostname?: boolean; timeoutMs?: number } = {}): Promise<string> {
    return run(['ip', ...this.wrap(host, argv, options.hostname ?? true)], { timeoutMs: options.timeoutMs ?? 30_000 });
  }

  /** argv that runs `argv` inside the host when spawned in the machine's own namespace, as `exec` does (for a caller that spawns it itself). */
  command(host: string, argv: readonly string[], options: { hostname?: boolean } = {}): string[] {
    return ['ip', ...this.wrap(host, argv, options.hostname ?? true)];
  }

  /** A new folder (0700) for the bed's processes, `<tmp>/rs-<bed>-<label>-*`, removed with the bed however it goes down. */
  folder(label: string): string {
    if (!this.state || this.lifecycle !== 'up') throw new RideShareError('CONFLICT', `bed ${this.plan.name} is ${this.lifecycle}: no folder for it`);
    if (!/^[a-z0-9-]{1,32}$/.test(label)) throw new BadRequestError(`a folder label is lower-case letters, digits and -, not '${label}'`);
    const folder = mkdtempSync(path.join(os.tmpdir(), `rs-${this.plan.name}-${label}-`));
    this.state.folders ??= [];
    this.state.folders.push(folder);
    writeState(this.state);
    return folder;
  }

  pids(host: string): number[] {
    return pidsIn(this.host(host).namespace);
  }

  status(): HostStatus[] {
    return bedStatus(this.plan);
  }

  // ---- faults --------------------------------------------------------------------------------

  /** `host` cut off from `peers` (default: every other host), both ways unless `direction` says one. */
  partition(host: string, options: { peers?: readonly string[]; direction?: Direction } = {}): Promise<NetworkFault> {
    return injectNetworkFault(this.plan, this.host(host), { kind: 'partition', ...options });
  }

  /** Packets from `from` to `to` are dropped; `to`'s packets to `from` still arrive. */
  oneWay(from: string, to: string): Promise<NetworkFault> {
    return injectNetworkFault(this.plan, this.host(from), { kind: 'partition', peers: [to], direction: 'outgoing' });
  }

  /** Only these TCP ports of `host` (its servers' and its clients' to other hosts) are cut; 'zookeeper' and 'rabbitmq' name their ports. */
  cutPorts(host: string, ports: readonly number[] | 'zookeeper' | 'rabbitmq', options: { peers?: readonly string[] } = {}): Promise<NetworkFault> {
    const list = ports === 'zookeeper' ? ZOOKEEPER_PORTS : ports === 'rabbitmq' ? RABBITMQ_PORTS : ports;
    return injectNetworkFault(this.plan, this.host(host), { kind: 'ports', ports: list, ...options });
  }

  /** Each packet of `host` (both ways unless `direction`) dropped with probability `percent` %. */
  loss(host: string, percent: number, options: { direction?: Direction } = {}): Promise<NetworkFault> {
    return injectNetworkFault(this.plan, this.host(host), { kind: 'loss', percent, ...options });
  }

  /** The host's processes' link to its own servers on these ports goes silent (packets dropped on loopback); its servers still reach the other hosts, and its processes the other hosts' servers. */
  cutOwnServer(host: string, ports: readonly number[] | 'zookeeper' | 'rabbitmq'): Promise<NetworkFault> {
    const list = ports === 'zookeeper' ? [2181] : ports === 'rabbitmq' ? [5672] : ports;
    return injectNetworkFault(this.plan, this.host(host), { kind: 'own-server', ports: list });
  }

  /** Every network fault of the host at once. */
  heal(host: string): Promise<void> {
    return healHost(this.plan, this.host(host));
  }

  freeze(host: string): FrozenHost {
    return freezeHost(this.host(host));
  }

  crash(host: string, options: CrashOptions = {}): Promise<CrashedHost> {
    return crashHost(this.plan, this.host(host), options);
  }

  /**
   * Every frame between any two hosts held `ms` ms each way (a round trip takes 2 × `ms` more), by
   * the delay switch in the bridge's namespace (delay-switch.ts); partitions, port cuts and losses
   * go on working meanwhile. One at a time; the bed's down stops it with the rest.
   */
  async delay(ms: number): Promise<BedDelay> {
    if (this.lifecycle !== 'up') throw new RideShareError('CONFLICT', `bed ${this.plan.name} is ${this.lifecycle}: no delay in it`);
    if (this.hostDelay) throw new RideShareError('CONFLICT', `bed ${this.plan.name} already has a delay of ${this.hostDelay.delayMs} ms between its hosts`);
    const delay = await startDelaySwitch(this.plan, ms, (pid) => this.record('bridge', pid));
    this.hostDelay = delay;
    return {
      ...delay,
      heal: async () => {
        try {
          return await delay.heal();
        } finally {
          if (this.hostDelay === delay) this.hostDelay = undefined;
        }
      },
    };
  }

  delayedPath(options: DelayedPathOptions): Promise<DelayedPath> {
    this.host(options.to);
    return openDelayedPath((host, argv, spawnOptions) => this.exec(host, argv, spawnOptions), options);
  }

  // ---- internals -----------------------------------------------------------------------------

  private wrap(host: string, argv: readonly string[], ownHostname: boolean): string[] {
    const plan = this.host(host);
    if (this.lifecycle !== 'up') throw new RideShareError('CONFLICT', `bed ${this.plan.name} is ${this.lifecycle}: nothing runs in it`);
    if (argv.length === 0) throw new BadRequestError('exec needs a command');
    const inNamespace = ['netns', 'exec', plan.namespace];
    if (!ownHostname) return [...inNamespace, ...argv];
    // sh sets the name inside the new UTS namespace, then becomes the command: no shell stays behind.
    return [...inNamespace, 'unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', plan.name, ...argv];
  }

  private record(host: string, pid: number | undefined): void {
    const identity = pid === undefined ? undefined : identify(pid);
    if (!this.state || !identity || this.lifecycle !== 'up') return;
    this.state.started.push({ host, identity });
    writeState(this.state);
  }
}
