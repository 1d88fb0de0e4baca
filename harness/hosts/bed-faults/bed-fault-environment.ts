/**
 * The deployment a bed fault round runs against: a test bed of three hosts (users, rides, db),
 * RideShare started on each with docs/hosts.md's command (HostDeployment), and this process's
 * way in: a bridge standing in a fourth host of the bed, `client`, which runs no RideShare and
 * stands where the users' load balancer would (a partition of a host cuts it off from the client
 * too; a crash of any host leaves the client's way in standing). It knows which host a
 * fault holds, so clients leave that host's orchestrator and gateway out while it lasts, and
 * says when the deployment is whole again: the database (one ready master and its ready slaves,
 * every worker running), every host's orchestrator and gateway ready, and every orchestrator
 * answering a read.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkerInfo } from '../../../src/dbaas/coordination/worker-registry.ts';
import { workerDbFile, workerFileOwners, workersDirOf } from '../../../src/dbaas/worker/files.ts';
import { DEFAULT_ZK_USER } from '../../../src/shared/config.ts';
import { sleep } from '../../../src/shared/timeout.ts';
import { call } from '../../chaos/client.ts';
import type { ClusterView } from '../../chaos/settle.ts';
import { ClusterInspector } from '../../faults/cluster-inspector.ts';
import { isRunning } from '../../faults/proc.ts';
import { rabbitNodeName } from '../../../src/infra/rabbitmq-cluster-node.ts';
import { HostClock } from '../host-clock.ts';
import { HostDeployment, type HostMemory, type Placement } from '../host-deployment.ts';
import { TestBed } from '../TestBed.ts';
import { BedBridge } from './bed-bridge.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BED_HOSTS = ['users', 'rides', 'db'] as const;
/** The hosts that hold no data at the start (the master starts on db). */
export const NON_DB_HOSTS = ['users', 'rides'] as const;
export type BedHost = (typeof BED_HOSTS)[number];
export const DB_HOST: BedHost = 'db';
/** The bed's host for the clients: it runs no RideShare, and no fault is injected into it. */
const CLIENT_HOST = 'client';
const ORCHESTRATOR_PORT = 8000;
const GATEWAY_PORT = 8080;
const ZOOKEEPER_PORT = 2181;
const CLUSTER = 'rideshare';
/** The cheapest read the database's API takes: one row of any table. */
const READ_PROBE = { table: 'users', limit: 1 };

export interface BedEnvironmentOptions {
  placement: Placement;
  /** Names the bed (`rs-<name>-*`); unique per run. */
  name: string;
  subnet?: string;
  /** Each host's output appended there, when given. */
  logDir?: string;
  log?: (line: string) => void;
  /** Each host's RideShare processes run on a clock the clock kinds can step (libfaketime, host-clock.ts). */
  fakeClocks?: boolean;
}

export interface StartFigures {
  bedUpMs: number;
  /** From `npm start` to "RideShare host <name> is up", all three started at once. */
  hostUpMs: Record<string, number>;
  memory: HostMemory[];
}

export class BedFaultEnvironment {
  /** The host a fault holds right now: clients leave it out (what a load balancer's health check would do). */
  faulted: BedHost | undefined;
  /** A host's orchestrator reached another way while a fault lasts (a delayed path). */
  readonly orchestratorDetours = new Map<BedHost, string>();
  /** Each host's faked wall clock, when the environment was started with fakeClocks. */
  readonly clocks = new Map<BedHost, HostClock>();
  readonly serviceHeaders: Record<string, string>;
  private readonly orchestratorUrls = new Map<BedHost, string>();
  private readonly gatewayUrls = new Map<BedHost, string>();

  private constructor(
    readonly bed: TestBed,
    readonly deployment: HostDeployment,
    readonly bridge: BedBridge,
    private readonly inspector: ClusterInspector,
    readonly options: BedEnvironmentOptions,
    readonly startFigures: StartFigures,
  ) {
    this.serviceHeaders = { authorization: `Bearer ${this.secret('service.token')}` };
  }

  static async start(options: BedEnvironmentOptions): Promise<BedFaultEnvironment> {
    const bed = new TestBed({ name: options.name, hosts: [...BED_HOSTS, CLIENT_HOST], ...(options.subnet ? { subnet: options.subnet } : {}) });
    const bedUpMs = await bed.up();
    try {
      // Built once here, so the three hosts' `npm start` find dist/ current instead of building it together.
      execFileSync('node', ['scripts/build.mjs'], { cwd: REPO, stdio: 'pipe' });
      const deployment = new HostDeployment(bed, options.placement, options.placement, options.logDir, {}, BED_HOSTS);
      deployment.prepare();
      const clocks = new Map<BedHost, HostClock>();
      if (options.fakeClocks) {
        for (const host of BED_HOSTS) {
          const clock = await HostClock.make(path.join(bed.folder(`clock-${host}`), 'faketime'));
          clocks.set(host, clock);
          deployment.hostSettings.set(host, clock.environment);
        }
      }
      const times = await Promise.all(BED_HOSTS.map(async (host) => [host, await deployment.start(host)] as const));
      const bridge = BedBridge.open(bed, CLIENT_HOST);
      const zkPassword = readFileSync(path.join(deployment.dataDirs.get(DB_HOST) as string, 'secrets', 'zookeeper.digest'), 'utf8').trim();
      // Every host's ZooKeeper server: the inspector goes on through the others when one host is lost.
      const zkServers = await Promise.all(BED_HOSTS.map(async (host) => `127.0.0.1:${await bridge.port(host, ZOOKEEPER_PORT)}`));
      const inspector = new ClusterInspector(zkServers.join(','), CLUSTER, { user: DEFAULT_ZK_USER, password: zkPassword });
      const memory = BED_HOSTS.map((host) => deployment.memory(host));
      const env = new BedFaultEnvironment(bed, deployment, bridge, inspector, options, { bedUpMs, hostUpMs: Object.fromEntries(times), memory });
      for (const [host, clock] of clocks) env.clocks.set(host, clock);
      for (const host of BED_HOSTS) {
        env.orchestratorUrls.set(host, await bridge.url(host, ORCHESTRATOR_PORT));
        env.gatewayUrls.set(host, await bridge.url(host, GATEWAY_PORT));
      }
      const unwell = await env.waitWhole(120_000);
      if (unwell) options.log?.(`the deployment is not whole after its start: ${unwell}`);
      return env;
    } catch (error) {
      await bed.down();
      throw error;
    }
  }

  get dataDir(): string {
    return this.deployment.dataDirs.get(DB_HOST) as string;
  }

  /** The replicas' folder of every host: each host's agent keeps its workers' files in its own DATA_DIR. */
  get workersDirs(): string[] {
    return BED_HOSTS.map((host) => workersDirOf(this.deployment.dataDirs.get(host) as string));
  }

  /** Every worker with a file in some host's data folder, whatever ZooKeeper lists. */
  workerIdsFromFiles(): string[] {
    return [...new Set(this.workersDirs.flatMap((dir) => workerFileOwners(dir)))];
  }

  /** A worker's SQLite file on the host that ran it (a worker id is the cluster's alone); the db host's when no host has one. */
  replicaFileOf(workerId: string): string {
    const files = this.workersDirs.map((dir) => workerDbFile(dir, workerId));
    return files.find((file) => existsSync(file)) ?? workerDbFile(workersDirOf(this.dataDir), workerId);
  }

  /**
   * The slaves the supervisor keeps now: npm start's database service starts with one, and its
   * autoscaler adds one for each step of read load (the rounds' clients read a lot), so it is
   * read from ZooKeeper, never assumed.
   */
  async desiredSlaves(): Promise<number> {
    return (await this.inspector.desiredSlaves().catch(() => undefined)) ?? 1;
  }

  /** The hosts that hold no master and run a slave now (by the registered workers' pids, each in its host's namespace). */
  async slaveHosts(): Promise<BedHost[]> {
    const workers = await this.inspector.workers();
    const master = await this.masterHost(workers);
    return BED_HOSTS.filter((host) => host !== master && workers.some((worker) => worker.role === 'slave' && this.hostOfPid(worker.pid) === host));
  }

  /** The host whose namespace runs the registered master, if one is registered. */
  async masterHost(workers?: WorkerInfo[]): Promise<BedHost | undefined> {
    const master = (workers ?? (await this.inspector.workers())).find((worker) => worker.role === 'master');
    return master === undefined ? undefined : this.hostOfPid(master.pid);
  }

  /** The host whose namespace runs the process. */
  hostOfPid(pid: number): BedHost | undefined {
    return BED_HOSTS.find((host) => this.bed.pids(host).includes(pid));
  }

  secret(file: string): string {
    return readFileSync(path.join(this.dataDir, 'secrets', file), 'utf8').trim();
  }

  orchestratorUrl(host: BedHost): string {
    return this.orchestratorDetours.get(host) ?? (this.orchestratorUrls.get(host) as string);
  }

  gatewayUrl(host: BedHost): string {
    return this.gatewayUrls.get(host) as string;
  }

  /** The hosts no fault holds now. */
  liveHosts(): BedHost[] {
    return BED_HOSTS.filter((host) => host !== this.faulted);
  }

  liveOrchestratorUrls(): string[] {
    return this.liveHosts().map((host) => this.orchestratorUrl(host));
  }

  view(): ClusterView {
    // Any host no fault holds: the checker's reads go on when the database host is the one lost.
    const through = this.liveHosts().includes(DB_HOST) ? DB_HOST : (this.liveHosts()[0] as BedHost);
    return { orchestratorUrl: this.orchestratorUrl(through), dataDir: this.dataDir, replicaFileOf: (workerId) => this.replicaFileOf(workerId), workers: () => this.inspector.workers() };
  }

  /** Why the deployment is not whole, or undefined when it is (the workers as ZooKeeper lists them either way). */
  async wholeness(): Promise<{ problem?: string; workers: WorkerInfo[] }> {
    let workers: WorkerInfo[];
    try {
      workers = await this.inspector.workers();
    } catch (error) {
      // biome-ignore lint/nursery/noBaseToString: a caught value is unknown; String() is the deliberate text for a non-Error throw
      return { problem: `ZooKeeper: ${error instanceof Error ? error.message : String(error)}`, workers: [] };
    }
    const notRunning = workers.filter((worker) => !isRunning(worker.pid));
    const masters = workers.filter((worker) => worker.role === 'master');
    const readySlaves = workers.filter((worker) => worker.role === 'slave' && worker.ready);
    if (notRunning.length > 0) return { problem: `registered but dead or frozen: ${notRunning.map((worker) => `${worker.role} ${worker.pid}`).join(', ')}`, workers };
    if (masters.length !== 1 || !masters[0]?.ready) return { problem: `${masters.length} masters${masters[0] && !masters[0].ready ? ' (not ready)' : ''}`, workers };
    const desired = await this.desiredSlaves();
    if (readySlaves.length !== desired) return { problem: `${readySlaves.length} ready slaves, want ${desired}`, workers };
    for (const host of BED_HOSTS) {
      for (const [what, url] of [
        ['orchestrator', this.orchestratorUrls.get(host) as string],
        ['gateway', this.gatewayUrl(host)],
      ] as const) {
        const ready = await call('GET', `${url}/ready`, undefined, 2000);
        if (ready.status !== 200) return { problem: `${host}'s ${what} answers /ready ${ready.status || ready.error}`, workers };
      }
      // Ready is not enough: an orchestrator whose link to the workers broke still says ready, so each must answer a read.
      const read = await call('POST', `${this.orchestratorUrls.get(host) as string}/api/v1/db/read`, READ_PROBE, 8000, this.serviceHeaders);
      if (read.status !== 200) return { problem: `${host}'s orchestrator answers a read ${read.status || read.error} ${read.status ? JSON.stringify(read.body).slice(0, 160) : ''}`, workers };
    }
    return { workers };
  }

  /**
   * Every host's RabbitMQ node runs in the cluster, as each node itself sees it (undefined), or
   * what is missing. The deployment answers again long before a killed node has booted (10-30 s
   * on the bed): its slaves resume through the database host's node and its orchestrator goes
   * there too. A round that takes another host then would leave one node of three, no majority
   * for the queues and the log, and no failover until a second node is back: two faults at once,
   * not the one the round injects.
   */
  async rabbitNodesMissing(): Promise<string | undefined> {
    const all = BED_HOSTS.map(rabbitNodeName);
    for (const host of BED_HOSTS) {
      let running: string[];
      try {
        running = (JSON.parse(await this.deployment.rabbitmqctl(host, ['cluster_status', '--formatter', 'json'])) as { running_nodes?: string[] }).running_nodes ?? [];
      } catch {
        return `${host}'s RabbitMQ node does not answer`;
      }
      const missing = all.filter((node) => !running.includes(node));
      if (missing.length > 0) return `${host}'s RabbitMQ node sees ${missing.join(', ')} not running`;
    }
    return undefined;
  }

  /** As waitWhole, and every RabbitMQ node back in the cluster: what a round starts from. */
  async waitWholeWithEveryNode(withinMs: number): Promise<string | undefined> {
    const deadline = Date.now() + withinMs;
    const unwell = await this.waitWhole(withinMs);
    if (unwell) return unwell;
    let missing: string | undefined = 'not looked yet';
    while (Date.now() < deadline) {
      missing = await this.rabbitNodesMissing();
      if (!missing) return undefined;
      await sleep(500);
    }
    return missing;
  }

  async waitWhole(withinMs: number): Promise<string | undefined> {
    const deadline = Date.now() + withinMs;
    let last: string | undefined = 'not looked yet';
    while (Date.now() < deadline) {
      last = (await this.wholeness()).problem;
      if (!last) return undefined;
      await sleep(250);
    }
    return last;
  }

  /** Every host's `npm start` stopped (SIGTERM), then the bed down: nothing of the run is left. */
  async stop(): Promise<void> {
    this.inspector.close();
    this.bridge.close();
    await Promise.allSettled(BED_HOSTS.map((host) => this.deployment.stop(host)));
    await this.bed.down();
  }
}
