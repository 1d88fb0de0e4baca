/**
 * Everything a fault test runs on, all of it private to the test and all of it killable: its own
 * RabbitMQ (optionally behind the link-fault proxy) and ZooKeeper, one or two orchestrator
 * processes under the process manager, and the workers they start. Nothing here is shared with
 * servers already running on the machine (own ports, own data directories), and stop() leaves
 * no process of the cluster behind, whatever the faults did to it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ZkCredentials } from '../../src/dbaas/coordination/ZkClient.ts';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { freePorts } from '../../src/shared/ports.ts';
import { sleep } from '../../src/shared/timeout.ts';
import type { ClusterView } from '../chaos/settle.ts';
import { workersDirOf } from '../../src/dbaas/worker/files.ts';
import { ClusterInspector } from './cluster-inspector.ts';
import { clockFileOf, CLOCK_FILE_VARIABLE, CLOCK_MODULE } from './clock-offset.ts';
import { SmallDisk } from './small-disk.ts';
import { OrchestratorProcess } from './orchestrator-process.ts';
import { clusterProcesses, isRunning, killCluster } from './proc.ts';
import { RestartableServer } from './servers.ts';
import { TcpProxy } from './tcp-proxy.ts';

export interface EnvironmentOptions {
  /** Names the temporary directory, so a kept one says which test left it. */
  label: string;
  orchestrators: 1 | 2;
  /** Every process reaches RabbitMQ through the link-fault proxy (needed by the link faults). */
  brokerProxy: boolean;
  /** Every process reaches ZooKeeper through a proxy of its own (needed by orchestrator-zk-cut). */
  zkProxy?: boolean;
  /**
   * The workers' folder (DATA_DIR/workers) on a tmpfs of this many bytes, so the disk-full fault
   * can fill it (needs root to mount). Unmounted when the environment stops.
   */
  workersDiskBytes?: number;
  /** Slaves the cluster keeps besides the master. */
  slaves: number;
  /** ZooKeeper session of workers and orchestrators (ZK_SESSION_TIMEOUT_MS). */
  sessionTimeoutMs: number;
  /** The orchestrator's RPC deadline (RPC_TIMEOUT_MS): a write not answered by then is a 503. */
  rpcTimeoutMs: number;
  zkTickMs?: number;
  logLevel?: string;
  log?: (line: string) => void;
}

export function faultClusterName(): string {
  return `faults-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export class FaultEnvironment {
  readonly orchestrators: OrchestratorProcess[] = [];
  readonly inspector: ClusterInspector;
  /** Harness resets (a new cluster after one that never healed), with their reasons. */
  readonly resets: string[] = [];
  /** Every cluster name this environment used: stop() must leave no process of any of them. */
  readonly clusters: string[] = [];
  private generation = 0;
  /** Every cluster of the environment signs in to ZooKeeper with these (ZK_AUTH), the inspector too. */
  readonly zkAuth: ZkCredentials = { user: 'rideshare', password: randomBytes(18).toString('base64url') };
  /** The workers' folder of each cluster on its own small tmpfs, when asked for (workersDiskBytes). */
  readonly disks: SmallDisk[] = [];
  /** Workers are not our children: if the test process dies without stop(), this still kills them, and unmounts what it mounted. */
  private readonly killOnExit = () => {
    for (const cluster of this.clusters) killCluster(cluster);
    for (const disk of this.disks) disk.unmountNow();
  };

  private constructor(
    readonly options: EnvironmentOptions,
    readonly root: string,
    readonly rabbit: RestartableServer,
    readonly zk: RestartableServer,
    readonly proxy: TcpProxy | undefined,
    readonly zkProxy: TcpProxy | undefined,
    public cluster: string,
    public dataDir: string,
  ) {
    this.inspector = new ClusterInspector(zk.address, cluster, this.zkAuth);
    this.clusters.push(cluster);
    process.on('exit', this.killOnExit);
  }

  static async start(options: EnvironmentOptions): Promise<FaultEnvironment> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-faults-${options.label}-`));
    const rabbit = await RestartableServer.rabbitMq(path.join(root, 'servers', 'rabbitmq'));
    const zk = await RestartableServer.zooKeeper(path.join(root, 'servers', 'zookeeper'), options.zkTickMs ?? 200);
    const booted = await Promise.allSettled([zk.start(), rabbit.start()]);
    const failed = booted.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) {
      await Promise.all([zk.stop(), rabbit.stop()]);
      throw failed.reason;
    }
    const proxy = options.brokerProxy ? new TcpProxy({ targetPort: rabbit.port }) : undefined;
    await proxy?.start();
    const zkProxy = options.zkProxy ? new TcpProxy({ targetPort: zk.port }) : undefined;
    await zkProxy?.start();
    const cluster = faultClusterName();
    const env = new FaultEnvironment(options, root, rabbit, zk, proxy, zkProxy, cluster, path.join(root, 'cluster-0'));
    try {
      await env.bootCluster();
    } catch (error) {
      await env.stop({ keep: true });
      throw error;
    }
    return env;
  }

  /** What workers and orchestrators connect to: the proxy when there is one (same user, password and vhost). */
  get amqpUrl(): string {
    if (!this.proxy) return this.rabbit.address;
    const viaProxy = new URL(this.rabbit.address);
    viaProxy.port = String(this.proxy.port);
    return viaProxy.toString();
  }

  /** What orchestrators and workers connect to for ZooKeeper: the proxy when there is one. */
  get zkConnect(): string {
    return this.zkProxy ? `127.0.0.1:${this.zkProxy.port}` : this.zk.address;
  }

  /** The small disk under the current cluster's workers, when the environment has one. */
  get workersDisk(): SmallDisk | undefined {
    return this.disks.find((disk) => disk.dir === workersDirOf(this.dataDir) && disk.mounted);
  }

  get desiredSlaves(): number {
    return this.options.slaves;
  }

  /**
   * Orchestrators clients should use: those serving (as a load balancer's health check sees
   * them), else those at least running, else all (calls then fail and are retried).
   */
  liveOrchestratorUrls(): string[] {
    for (const usable of [(o: OrchestratorProcess) => o.isServing, (o: OrchestratorProcess) => o.isRunning, () => true]) {
      const urls = this.orchestrators.filter(usable).map((orchestrator) => orchestrator.url);
      if (urls.length > 0) return urls;
    }
    return [];
  }

  /** The orchestrator process holding the supervisor lease, if one of ours does and is alive. */
  async supervising(): Promise<OrchestratorProcess | undefined> {
    const holder = await this.inspector.supervisor().catch(() => undefined);
    if (!holder) return undefined;
    return this.orchestrators.find((orchestrator) => orchestrator.pid === holder.pid);
  }

  /** The supervising orchestrator, else any running one (its answer then says it stands by). */
  async supervisingOrAny(): Promise<OrchestratorProcess> {
    return (await this.supervising()) ?? this.orchestrators.find((orchestrator) => orchestrator.isRunning) ?? (this.orchestrators[0] as OrchestratorProcess);
  }

  /** For settle(): the worker list from whichever orchestrator is up, ZooKeeper from the inspector. */
  view(): ClusterView {
    const env = this;
    return {
      get orchestratorUrl() {
        return env.liveOrchestratorUrls()[0] as string;
      },
      get dataDir() {
        return env.dataDir;
      },
      workers: () => env.inspector.workers(),
    };
  }

  /**
   * Why the cluster is not whole, or undefined when it is: one ready master and the desired
   * ready slaves, every registered worker running (not dead, not frozen), and a live
   * orchestrator of ours holding the supervisor lease (else the next fault goes unrepaired).
   */
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
    let problem: string | undefined;
    if (notRunning.length > 0) problem = `registered but dead or frozen: ${notRunning.map((worker) => `${worker.role} ${worker.pid}`).join(', ')}`;
    else if (masters.length !== 1 || !masters[0]?.ready) problem = `${masters.length} masters${masters[0] && !masters[0].ready ? ' (not ready)' : ''}`;
    else if (readySlaves.length !== this.options.slaves) problem = `${readySlaves.length} ready slaves, want ${this.options.slaves}`;
    else if (!(await this.supervising())) problem = 'no live orchestrator of the test holds the supervisor lease';
    return { ...(problem ? { problem } : {}), workers };
  }

  async waitWhole(withinMs: number): Promise<string | undefined> {
    const deadline = Date.now() + withinMs;
    let last: string | undefined = 'not looked yet';
    while (Date.now() < deadline) {
      last = (await this.wholeness()).problem;
      if (!last) return undefined;
      await sleep(100);
    }
    return last;
  }

  /**
   * A fresh cluster when the last one never healed: the harness's own repair, so that one
   * failing fault kind does not fail every kind tested after it. Recorded, never silent.
   */
  async resetCluster(reason: string): Promise<void> {
    this.resets.push(reason);
    this.options.log?.(`[harness] reset: a new cluster, because ${reason}`);
    await Promise.all(this.orchestrators.map((orchestrator) => orchestrator.stop()));
    killCluster(this.cluster);
    this.proxy?.heal();
    this.proxy?.pauseNewLinks(undefined);
    this.zkProxy?.heal();
    this.zkProxy?.pauseNewLinks(undefined);
    this.workersDisk?.free();
    this.zk.resume();
    this.rabbit.resume();
    if (!this.zk.running) await this.zk.start();
    if (!this.rabbit.running) await this.rabbit.start();
    this.generation += 1;
    this.cluster = faultClusterName();
    this.clusters.push(this.cluster);
    this.dataDir = path.join(this.root, `cluster-${this.generation}`);
    this.inspector.switchCluster(this.cluster);
    this.orchestrators.length = 0;
    await this.bootCluster();
  }

  /** Kills every process of the test and its servers; `keep` leaves the files for diagnosis. */
  async stop(options: { keep?: boolean } = {}): Promise<void> {
    await Promise.all(this.orchestrators.map((orchestrator) => orchestrator.stop()));
    const leftovers = this.clusters.flatMap((cluster) => killCluster(cluster));
    if (leftovers.length > 0) this.options.log?.(`[harness] killed ${leftovers.length} leftover processes of ${this.cluster}: ${leftovers.map((p) => `${p.kind} ${p.pid}`).join(', ')}`);
    this.inspector.close();
    await this.proxy?.stop();
    await this.zkProxy?.stop();
    await Promise.all([this.rabbit.stop(), this.zk.stop()]);
    // Every process that had a file open there is dead by now: the mounts come off cleanly.
    for (const disk of this.disks) disk.unmount({ keepCopy: options.keep === true });
    process.off('exit', this.killOnExit);
    if (!options.keep) fs.rmSync(this.root, { recursive: true, force: true });
  }

  orchestratorEnv(): Record<string, string> {
    return {
      AMQP_URL: this.amqpUrl,
      ZK_CONNECT: this.zkConnect,
      ZK_AUTH: `${this.zkAuth.user}:${this.zkAuth.password}`,
      DATA_DIR: this.dataDir,
      RIDESHARE_CLUSTER: this.cluster,
      ZK_SESSION_TIMEOUT_MS: String(this.options.sessionTimeoutMs),
      RPC_TIMEOUT_MS: String(this.options.rpcTimeoutMs),
      READ_WAIT_MS: '2000',
      LOG_LEVEL: this.options.logLevel ?? 'info',
      WORKER_RUNTIME: 'process',
      // The scaling clock must not change the slave count under the faults: one window lasts a day.
      SCALE_WINDOW_SECONDS: '86400',
      BIND_HOST: '127.0.0.1',
      // The faults are the subject here; tokens are tested in test/security. Messages stay signed.
      RIDESHARE_AUTH: 'off',
    };
  }

  private async supervisedBy(orchestrator: OrchestratorProcess, withinMs: number): Promise<boolean> {
    const deadline = Date.now() + withinMs;
    while (Date.now() < deadline) {
      if ((await this.supervising()) === orchestrator) return true;
      await sleep(100);
    }
    return false;
  }

  private async bootCluster(): Promise<void> {
    fs.mkdirSync(path.join(this.dataDir, 'logs'), { recursive: true });
    if (this.options.workersDiskBytes !== undefined) {
      const disk = new SmallDisk(workersDirOf(this.dataDir), this.options.workersDiskBytes);
      // Recorded before the mount, so that an exit in between still unmounts it.
      this.disks.push(disk);
      disk.mount();
    }
    const ports = await freePorts(this.options.orchestrators);
    const names = ['a', 'b'];
    for (const [index, port] of ports.entries()) {
      const name = names[index] as string;
      // Each orchestrator reads its own clock offset (clock-step); workers never get the variable.
      const env = { ...this.orchestratorEnv(), [CLOCK_FILE_VARIABLE]: clockFileOf(this.dataDir, name) };
      this.orchestrators.push(new OrchestratorProcess({ name, port, env, preload: [CLOCK_MODULE], logFile: path.join(this.dataDir, 'logs', `orchestrator-${name}.log`) }));
    }
    const [first, ...others] = this.orchestrators;
    if (!first) throw new Error('no orchestrator');
    first.start();
    // The others start once the first holds the supervisor lease (before its workers are up), so
    // that their start-up overlaps its own instead of following it, and every run still begins
    // with the first supervising and the rest standing by (a seed replays the same choices).
    if (others.length > 0 && !(await this.supervisedBy(first, 90_000))) throw new Error(`orchestrator a did not take the supervisor lease: see ${first.logFile}`);
    for (const other of others) other.start();
    if (!(await first.waitHealthy(90_000))) throw new Error(`orchestrator a did not start: see ${first.logFile}`);
    // Not before: a new cluster's start clears its znodes, the desired slaves among them.
    await this.inspector.setDesiredSlaves(this.options.slaves);
    for (const other of others) {
      if (!(await other.waitHealthy(60_000))) throw new Error(`orchestrator ${other.name} did not start: see ${other.logFile}`);
    }
    const problem = await this.waitWhole(60_000);
    if (problem) throw new Error(`the new cluster did not become whole: ${problem}`);
    this.options.log?.(
      `[harness] cluster ${this.cluster} up: ${this.orchestrators.map((o) => `orchestrator ${o.name} pid ${o.pid} ${o.url}`).join(', ')}; workers ${clusterProcesses(this.cluster)
        .filter((p) => p.kind === 'worker')
        .map((p) => `${p.role} ${p.pid}`)
        .join(', ')}`,
    );
  }
}
