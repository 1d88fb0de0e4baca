/**
 * The database service's front door: an HTTP server that turns db/read and db/write into RPCs on
 * RabbitMQ (it never opens a database) and counts reads for scaling. Supervision of the workers
 * is the leadership unit's (src/dbaas/supervisor/Leadership.ts), composed here.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { createHttpApp } from '../../shared/http/app.ts';
import { drain } from '../../shared/http/drain.ts';
import type { AuthSetting } from '../../shared/http/auth.ts';
import type { Readiness } from '../../shared/http/health.ts';
import type { ObservabilitySettings } from '../../shared/http/observability.ts';
import type { Logger } from '../../shared/logger.ts';
import { createRegistry } from '../../shared/metrics.ts';
import { BackupEndpoint, backupTempDirOf } from '../backup/BackupEndpoint.ts';
import { ClusterHistory } from '../coordination/ClusterHistory.ts';
import { ensureOwnClusterRoot, madeByCluster } from '../coordination/cluster-root.ts';
import { DesiredSlaves } from '../coordination/DesiredSlaves.ts';
import { announceOrchestrator, listOrchestrators, withdrawOrchestrator } from '../coordination/orchestrator-registry.ts';
import { listWorkers, type WorkerInfo } from '../coordination/worker-registry.ts';
import { ZkClient } from '../coordination/ZkClient.ts';
import { ClusterClock } from '../coordination/ClusterClock.ts';
import { clusterNames, clusterPaths } from '../protocol/names.ts';
import { AssignedRuntime } from '../runtime/AssignedRuntime.ts';
import { HostAgent } from '../runtime/HostAgent.ts';
import { Leadership, type ScalingOptions } from '../supervisor/Leadership.ts';
import { chooseHost } from '../supervisor/placement.ts';
import { hostWorkerSettings } from '../supervisor/Workforce.ts';
import { workersDirOf } from '../worker/files.ts';
import type { ClusterSetup, Supervisor } from '../supervisor/Supervisor.ts';
import { SupervisionJournal } from '../supervisor/SupervisionJournal.ts';
import { readClusterStatus, type ClusterStatus } from './ClusterStatus.ts';
import { DatabaseFrontend } from './DatabaseFrontend.ts';
import { orchestratorAccess } from './access.ts';
import { OrchestratorMetrics } from './metrics.ts';
import { MessageSigner } from '../transport/signing.ts';
import { SupervisorForwarder } from './SupervisorForwarder.ts';
import { ProtocolGate } from './ProtocolGate.ts';
import { ReadCounter } from './ReadCounter.ts';
import { databaseRoutes, registerRoutes } from './routes.ts';
import { RpcClient } from './RpcClient.ts';
import { RideShareError } from '../../shared/errors.ts';
import type { SupervisionMode } from '../supervisor/supervision-mode.ts';

export type { ScalingOptions } from '../supervisor/Leadership.ts';

/** The cluster it fronts and supervises (the runtime is always given: src/dbaas/runtime/create-runtime.ts). */
export interface OrchestratorOptions extends ClusterSetup {
  /**
   * The host this orchestrator is the agent of (config AGENT_HOST). When set, workers are placed on
   * hosts through ZooKeeper: the supervisor assigns, each host's agent starts and stops its own
   * workers with `runtime` (docs/hosts.md). Unset: the supervisor runs every worker with `runtime`.
   */
  agentHost?: string;
  port: number;
  host?: string;
  rpcTimeoutMs: number;
  /** Sends an unanswered read once more after this long (config READ_HEDGE_MS; 0 or absent: never). */
  readHedgeMs?: number;
  /** ZooKeeper session of the orchestrator: how soon a standby takes over from a dead supervisor. */
  sessionTimeoutMs: number;
  /** Auto-scaling of slaves by read load; off when absent. */
  scaling?: ScalingOptions;
  /** When this orchestrator takes the supervisor lease (supervision-mode.ts); default `on`. */
  supervises?: SupervisionMode;
  /** Access log and metrics (config ACCESS_LOG, METRICS); both on unless given. */
  observability?: ObservabilitySettings;
  /** Bearer tokens (config RIDESHARE_AUTH, SERVICE_TOKEN, ADMIN_TOKEN; docs/security.md). */
  auth: AuthSetting;
  /** How long stopping keeps answering while draining (config SHUTDOWN_DRAIN_MS). Default 0. */
  drainMs?: number;
  logger: Logger;
}

export class Orchestrator {
  private readonly zk: ZkClient;
  /** Where the deadlines of commands are read (coordination/ClusterClock.ts). */
  private readonly clock: ClusterClock;
  private readonly rpc: RpcClient;
  private readonly app: FastifyInstance;
  private readonly readCounter: ReadCounter;
  private readonly leadership: Leadership;
  /** This host's agent, when workers are placed on hosts (options.agentHost). */
  private readonly agent: HostAgent | undefined;
  /** The supervisor's runtime when workers are placed on hosts: it watches the agents until this orchestrator stops. */
  private readonly assigned: AssignedRuntime | undefined;
  private readonly orchestratorId = `o-${randomBytes(4).toString('hex')}`;
  private readonly history: ClusterHistory;
  private readonly protocolGate: ProtocolGate;
  /** Every supervision event this orchestrator records while it supervises (metrics listen here). */
  readonly journal: SupervisionJournal;
  private state: 'initial' | 'running' | 'stopping' | 'stopped' = 'initial';
  private stopped: Promise<void> | undefined;
  private address = '';

  constructor(private readonly options: OrchestratorOptions) {
    const names = clusterNames(options.cluster);
    const orchestratorId = this.orchestratorId;
    // A lost session is renewed, and the leadership unit rejoins as supervisor or standby.
    this.zk = new ZkClient({ connect: options.zkConnect, sessionTimeoutMs: options.sessionTimeoutMs, renew: true, credentials: options.zkAuth, logger: options.logger });
    const registry = createRegistry('orchestrator');
    this.clock = new ClusterClock(clusterPaths(options.cluster).clock, options.logger);
    const signer = new MessageSigner(options.clusterKey, { role: 'orchestrator', id: orchestratorId }, this.clock);
    this.rpc = new RpcClient({
      amqpUrl: options.amqpUrl,
      names,
      timeoutMs: options.rpcTimeoutMs,
      ...(options.readHedgeMs ? { readHedgeMs: options.readHedgeMs } : {}),
      signer,
      ...(options.observability?.metrics === false ? {} : { observe: (kind, seconds, outcome) => metrics.observeRpc(kind, seconds, outcome) }),
      logger: options.logger,
    });
    const metrics = new OrchestratorMetrics({
      registry,
      workers: () => this.workers(),
      queueDepth: (queue) => this.rpc.queueDepth(names[queue]),
    });
    this.readCounter = new ReadCounter(this.zk, options.cluster, orchestratorId, options.logger);
    this.history = new ClusterHistory(this.zk, options.cluster);
    this.journal = new SupervisionJournal(this.history, options.logger);
    this.journal.on('event', (event) => metrics.count(event));
    this.agent = options.agentHost === undefined ? undefined : this.hostAgent(options.agentHost);
    this.assigned = options.agentHost === undefined ? undefined : this.assignedRuntime(options.agentHost);
    this.leadership = new Leadership({
      ...options,
      ...(this.assigned ? { runtime: this.assigned } : {}),
      orchestratorId,
      zk: this.zk,
      flushReadCount: () => this.readCounter.publish(),
      journal: this.journal,
      logger: options.logger,
    });
    const database = new DatabaseFrontend(this.rpc, names, () => {
      this.readCounter.count();
      this.leadership.noticeRead();
    });
    this.app = createHttpApp({
      name: 'orchestrator',
      logger: options.logger.child({ component: 'orchestrator-http' }),
      registry,
      ...(options.observability ? { observability: options.observability } : {}),
      readiness: () => this.readiness(),
      auth: { ...options.auth, accessOf: orchestratorAccess },
      front: databaseRoutes(database),
      // During a rolling upgrade db calls go through fastify's routes, where the gate holds them or passes them on.
      frontOpen: () => this.protocolGate.open,
      // Every handler here is given the request id; nothing reads it from the request context.
      requestContext: false,
    });
    const supervisorOnly = new SupervisorForwarder({
      isSupervising: () => this.isSupervising,
      supervisorUrl: () => this.supervisorUrl(),
      orchestratorId,
      // A crash waits for the worker to be gone; a bounded wait on top of the RPC timeout.
      timeoutMs: options.rpcTimeoutMs + 10_000,
    });
    this.protocolGate = new ProtocolGate({
      workers: () => this.workers(),
      forwarder: supervisorOnly,
      maxWaitMs: options.rpcTimeoutMs,
      logger: options.logger.child({ component: 'protocol-gate' }),
    });
    registerRoutes(this.app, {
      database,
      listWorkerPids: () => this.workerPids(),
      crashMaster: () => this.leadership.crashMaster(),
      crashSlave: () => this.leadership.crashSlave(),
      scaling: () => this.leadership.scalingReport(),
      cluster: () => this.clusterStatus(),
      clusterChanges: this.journal,
      setDesiredSlaves: (count) => this.leadership.setDesiredSlaves(count),
      maxSlaves: this.leadership.maxSlaves,
      supervisorOnly,
      protocolGate: this.protocolGate,
      backup: new BackupEndpoint({
        amqpUrl: options.amqpUrl,
        cluster: options.cluster,
        names,
        signer,
        tempDir: backupTempDirOf(options.dataDir),
        timeoutMs: options.workerTuning.snapshotTimeoutMs,
        logger: options.logger.child({ component: 'backup' }),
      }),
    });
  }

  /** Starts, adopts and stops the workers the supervisor assigns to this host, with the local runtime. */
  private hostAgent(host: string): HostAgent {
    const settingsFor = hostWorkerSettings(this.options);
    return new HostAgent({
      zk: this.zk,
      cluster: this.options.cluster,
      host,
      orchestratorId: this.orchestratorId,
      runtime: this.options.runtime,
      settingsFor: (workerId, assignment) => settingsFor(workerId, assignment.role, assignment.fromFiles === true),
      workersDir: workersDirOf(this.options.dataDir),
      logger: this.options.logger.child({ component: 'host-agent', host }),
    });
  }

  /** The supervisor's runtime when workers are placed on hosts: assignments in ZooKeeper. */
  private assignedRuntime(host: string): AssignedRuntime {
    return new AssignedRuntime({
      zk: this.zk,
      cluster: this.options.cluster,
      ownHost: host,
      kind: this.options.runtime.kind,
      place: chooseHost,
      logger: this.options.logger.child({ component: 'placement' }),
    });
  }

  get url(): string {
    return this.address;
  }

  get isSupervising(): boolean {
    return this.leadership.isSupervising;
  }

  /** The supervisor of the current term, for tests and benchmarks that start or retire workers. */
  get supervisor(): Supervisor | undefined {
    return this.leadership.supervisor;
  }

  /**
   * Connects, then supervises if no other orchestrator does (resolving once the workers are up),
   * or stands by: it serves the API at once and takes over when the supervising one goes away.
   */
  async start(): Promise<void> {
    if (this.state !== 'initial') throw new RideShareError('INVALID_STATE', `cannot start an orchestrator in state ${this.state}`);
    this.state = 'running';
    await this.zk.connect();
    // Before it reads anything of the cluster there: a root someone else made could name anyone as supervisor.
    await ensureOwnClusterRoot(this.zk, this.options.cluster, this.options.zkAuth);
    // Before any command is sent: their deadlines are read on the cluster's clock.
    await this.clock.start(this.zk);
    await this.rpc.start();
    this.readCounter.start();
    // Before supervision: the supervisor's first workers are started by the hosts' agents.
    await this.agent?.start();
    await this.leadership.start();
    await this.protocolGate.start();
    await this.app.listen({ port: this.options.port, host: this.options.host ?? '127.0.0.1' });
    const address = this.app.server.address();
    const port = typeof address === 'object' && address ? address.port : this.options.port;
    this.address = `http://127.0.0.1:${port}`;
    await this.announce();
    // A new session lost the ephemeral announcement with the old one.
    this.zk.on('renewed', () => void this.announce());
  }

  private async announce(): Promise<void> {
    if (this.state !== 'running') return;
    const record = { orchestratorId: this.orchestratorId, pid: process.pid, url: this.address, startedAt: Math.round(performance.timeOrigin) };
    await announceOrchestrator(this.zk, this.options.cluster, record).catch((error: unknown) =>
      this.options.logger.warn({ err: error }, 'could not announce this orchestrator in ZooKeeper; the cluster status will not list it'),
    );
  }

  /** The supervising orchestrator's base URL, from its lease and its announcement. */
  private async supervisorUrl(): Promise<string | undefined> {
    const holder = await this.leadership.supervisorRecord();
    if (!holder || holder.orchestratorId === this.orchestratorId) return undefined;
    const running = await listOrchestrators(this.zk, this.options.cluster);
    const url = running.find((record) => record.orchestratorId === holder.orchestratorId)?.url;
    if (url === undefined) return undefined;
    // The caller's Authorization header goes with the call: only to an address the cluster's own credentials wrote.
    const paths = clusterPaths(this.options.cluster);
    if (!(await madeByCluster(this.zk, [paths.root, paths.supervisor, paths.orchestratorNode(holder.orchestratorId)], this.options.zkAuth))) {
      // A supervisor that was leaving as it was looked up (a rolling restart) took its nodes with it: gone, not forged.
      const leaving =
        (await this.leadership.supervisorRecord())?.orchestratorId !== holder.orchestratorId ||
        !(await listOrchestrators(this.zk, this.options.cluster)).some((record) => record.orchestratorId === holder.orchestratorId);
      if (leaving) return undefined;
      this.options.logger.error(
        { supervisor: holder.orchestratorId, url },
        'not passing an admin call on: the supervisor lease or its announcement was not written with the cluster\u2019s ZooKeeper credentials',
      );
      return undefined;
    }
    return url;
  }

  /** The cluster as GET /api/v1/cluster shows it. */
  clusterStatus(): Promise<ClusterStatus> {
    return readClusterStatus({
      zk: this.zk,
      cluster: this.options.cluster,
      orchestratorId: this.orchestratorId,
      runtime: this.options.runtime.kind,
      initialSlaves: this.options.initialSlaves,
      desired: new DesiredSlaves(this.zk, this.options.cluster),
      history: this.history,
      supervisor: () => this.leadership.supervisorRecord(),
      scaling: () => this.leadership.scalingReport(),
    });
  }

  /** Ready: the broker is reachable and the cluster has a ready master and at least one ready slave. */
  private async readiness(): Promise<Readiness> {
    if (this.state !== 'running') return { ready: false, reason: `the orchestrator is ${this.state}` };
    if (!this.rpc.connected) return { ready: false, reason: 'RabbitMQ is unreachable' };
    const workers = await this.workers();
    const master = workers.find((worker) => worker.role === 'master' && worker.ready);
    const slaves = workers.filter((worker) => worker.role === 'slave' && worker.ready);
    const details = { master: master?.pid ?? null, readySlaves: slaves.map((worker) => worker.pid), supervising: this.isSupervising };
    if (!master) return { ready: false, reason: this.leadership.supervisor?.restartRefusal ?? 'no ready master (a failover may be in progress)', details };
    if (slaves.length === 0) return { ready: false, reason: 'no ready slave to serve reads', details };
    return { ready: true, reason: `master pid ${master.pid} and ${slaves.length} ready slave(s)`, details };
  }

  /**
   * Stops the HTTP server (requests in flight are answered), supervision and the workers, then
   * the connections: the reverse order of start. `leaveWorkers` hands the running cluster over to
   * a standby orchestrator instead. Idempotent: a second call waits for the first.
   */
  stop(options: { leaveWorkers?: boolean; drain?: boolean } = {}): Promise<void> {
    this.stopped ??= this.shutdown(options.leaveWorkers ?? false, options.drain ?? true);
    return this.stopped;
  }

  private async shutdown(leaveWorkers: boolean, draining: boolean): Promise<void> {
    this.state = 'stopping';
    await drain(this.app, draining ? (this.options.drainMs ?? 0) : 0);
    await this.app.close();
    await withdrawOrchestrator(this.zk, this.options.cluster, this.orchestratorId).catch(() => undefined);
    await this.readCounter.stop();
    await this.protocolGate.stop();
    await this.leadership.close({ leaveWorkers });
    await this.assigned?.release();
    await this.agent?.close({ leaveWorkers });
    await this.rpc.close();
    this.clock.stop();
    this.zk.close();
    this.state = 'stopped';
  }

  /**
   * Whether another orchestrator of the cluster is running: stopping this one then hands the
   * workers over to it (a restart without an outage) instead of stopping them.
   */
  async hasPeers(): Promise<boolean> {
    const running = await listOrchestrators(this.zk, this.options.cluster);
    return running.some((record) => record.orchestratorId !== this.orchestratorId);
  }

  /** The registered workers, as ZooKeeper knows them. */
  workers(): Promise<WorkerInfo[]> {
    return listWorkers(this.zk, this.options.cluster);
  }

  async workerPids(): Promise<number[]> {
    const workers = await this.workers();
    return workers.map((worker) => worker.pid).sort((a, b) => a - b);
  }
}
