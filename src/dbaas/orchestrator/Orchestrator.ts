/**
 * The database service's front door: an HTTP server that turns db/read and db/write into RPCs
 * on RabbitMQ (it never opens a database), plus the supervisor that keeps the workers running.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../shared/logger.ts';
import { createHttpApp } from '../../shared/http/app.ts';
import { SupervisorLease } from '../coordination/SupervisorLease.ts';
import { ZkClient } from '../coordination/ZkClient.ts';
import { UnavailableError } from '../../shared/errors.ts';
import { clusterNames } from '../protocol/names.ts';
import { ProcessRuntime } from '../runtime/ProcessRuntime.ts';
import type { WorkerRuntime } from '../runtime/WorkerRuntime.ts';
import { Supervisor } from '../supervisor/Supervisor.ts';
import { DatabaseFrontend } from './DatabaseFrontend.ts';
import { registerRoutes } from './routes.ts';
import { ReadCounter } from './ReadCounter.ts';
import { RpcClient } from './RpcClient.ts';
import { Autoscaler } from '../supervisor/Autoscaler.ts';
import { DesiredSlaves } from '../supervisor/DesiredSlaves.ts';
import { listWorkers } from '../coordination/WorkerRegistry.ts';
import type { WorkerInfo } from '../protocol/names.ts';

/** After a failed takeover, how long before standing by for the lease again. */
const TAKEOVER_RETRY_MS = 1000;

export interface OrchestratorOptions {
  port: number;
  host?: string;
  cluster: string;
  dataDir: string;
  amqpUrl: string;
  zkConnect: string;
  rpcTimeoutMs: number;
  /** ZooKeeper session of the orchestrator (default 4 s). */
  sessionTimeoutMs?: number;
  initialSlaves?: number;
  /** Settings handed to every worker (timeouts, log level). */
  workerSettings?: Record<string, string>;
  runtime?: WorkerRuntime;
  /** Auto-scaling of slaves by read load; off when absent. */
  scaling?: ScalingOptions;
  logger: Logger;
}

export interface ScalingOptions {
  windowMs: number;
  readsPerSlave: number;
  maxSlaves: number;
}

export interface OrchestratorEvents {
  fatal: [reason: string];
}

export class Orchestrator extends EventEmitter<OrchestratorEvents> {
  private readonly zk: ZkClient;
  private readonly rpc: RpcClient;
  readonly runtime: WorkerRuntime;
  private readonly app: FastifyInstance;
  readonly database: DatabaseFrontend;
  readonly readCounter: ReadCounter;
  private readonly id = `o-${randomBytes(4).toString('hex')}`;
  private readonly lease: SupervisorLease;
  /** The current term of supervision, while this orchestrator holds the supervisor lease. */
  private term: { supervisor: Supervisor; autoscaler: Autoscaler | undefined; started: boolean } | undefined;
  private state: 'initial' | 'running' | 'stopping' | 'stopped' = 'initial';
  private stopped: Promise<void> | undefined;
  private address = '';

  constructor(private readonly options: OrchestratorOptions) {
    super();
    const names = clusterNames(options.cluster);
    // Its session decides how soon a standby takes over from a dead supervising orchestrator; a
    // lost session is renewed, and this orchestrator rejoins as supervisor or standby.
    this.zk = new ZkClient({ connect: options.zkConnect, sessionTimeoutMs: options.sessionTimeoutMs ?? 4000, renew: true });
    this.lease = new SupervisorLease(this.zk, options.cluster, { orchestratorId: this.id, pid: process.pid });
    this.rpc = new RpcClient({ amqpUrl: options.amqpUrl, names, timeoutMs: options.rpcTimeoutMs, logger: options.logger });
    this.readCounter = new ReadCounter(this.zk, options.cluster, this.id, options.logger);
    this.database = new DatabaseFrontend(this.rpc, names, () => {
      this.readCounter.count();
      this.term?.autoscaler?.noticeRead();
    });
    this.runtime = options.runtime ?? new ProcessRuntime({ cluster: options.cluster, logDir: path.join(options.dataDir, 'logs') });
    this.app = createHttpApp({ logger: options.logger.child({ component: 'orchestrator-http' }, { level: 'warn' }) });
    registerRoutes(this.app, {
      database: this.database,
      listWorkerPids: () => this.workerPids(),
      crashMaster: () => this.whenSupervising((supervisor) => supervisor.crashMaster()),
      crashSlave: () => this.whenSupervising((supervisor) => supervisor.crashSlave()),
      scaling: () => this.scalingReport(),
    });
  }

  get url(): string {
    return this.address;
  }

  /** The supervisor of the current term (tests and benchmarks); undefined while standing by. */
  get supervisor(): Supervisor | undefined {
    return this.term?.supervisor;
  }

  get autoscaler(): Autoscaler | undefined {
    return this.term?.autoscaler;
  }

  /**
   * Connects, then supervises if no other orchestrator does (resolving once the workers are up),
   * or stands by: it serves the API at once and takes over when the supervising one goes away.
   */
  async start(): Promise<void> {
    if (this.state !== 'initial') throw new Error(`cannot start an orchestrator in state ${this.state}`);
    this.state = 'running';
    await this.zk.connect();
    this.zk.on('expired', () => void this.onSessionLost());
    this.zk.on('renewed', () => this.onSessionRenewed());
    await this.rpc.start();
    this.readCounter.start();
    if (await this.lease.tryAcquire()) await this.lead(false);
    else this.standBy();
    await this.app.listen({ port: this.options.port, host: this.options.host ?? '127.0.0.1' });
    const address = this.app.server.address();
    const port = typeof address === 'object' && address ? address.port : this.options.port;
    this.address = `http://127.0.0.1:${port}`;
  }

  /**
   * Stops the HTTP server, the workers it supervises, then the connections (reverse order of
   * start). `leaveWorkers` hands the running cluster over to a standby orchestrator instead.
   * Idempotent: a second call waits for the first.
   */
  stop(options: { leaveWorkers?: boolean } = {}): Promise<void> {
    this.stopped ??= this.shutdown(options.leaveWorkers ?? false);
    return this.stopped;
  }

  private async shutdown(leaveWorkers: boolean): Promise<void> {
    this.state = 'stopping';
    this.lease.cancel();
    await this.app.close();
    await this.readCounter.stop();
    const term = this.term;
    this.term = undefined;
    term?.autoscaler?.stop();
    if (term) await (leaveWorkers ? term.supervisor.detach() : term.supervisor.stop());
    else if (!leaveWorkers) await this.runtime.close();
    await this.rpc.close();
    this.zk.close();
    this.state = 'stopped';
  }

  get isSupervising(): boolean {
    return this.term?.started === true;
  }

  /** The registered workers, as ZooKeeper knows them. */
  workers(): Promise<WorkerInfo[]> {
    return listWorkers(this.zk, this.options.cluster);
  }

  private async lead(takeover: boolean): Promise<void> {
    const supervisor = new Supervisor({
      runtime: this.runtime,
      zk: this.zk,
      cluster: this.options.cluster,
      dataDir: this.options.dataDir,
      amqpUrl: this.options.amqpUrl,
      zkConnect: this.options.zkConnect,
      initialSlaves: this.options.initialSlaves ?? 1,
      workerSettings: this.options.workerSettings ?? {},
      logger: this.options.logger.child({ component: 'supervisor' }),
    });
    const scaling = this.options.scaling;
    const autoscaler = scaling
      ? new Autoscaler({
          zk: this.zk,
          cluster: this.options.cluster,
          ...scaling,
          flushLocalCount: () => this.readCounter.publish(),
          currentDesired: () => supervisor.desiredSlaves(),
          setDesired: (count) => supervisor.setDesiredSlaves(count),
          logger: this.options.logger.child({ component: 'autoscaler' }),
        })
      : undefined;
    const term = { supervisor, autoscaler, started: false };
    this.term = term;
    this.options.logger.info({ orchestratorId: this.id, takeover }, 'supervising the cluster');
    await supervisor.start(takeover);
    await autoscaler?.start();
    term.started = true;
  }

  /** Waits for the supervisor lease and takes over; a takeover that fails gives the lease back. */
  private standBy(): void {
    void this.lease.holder().then(
      (holder) => this.options.logger.info({ holder }, 'another orchestrator supervises; standing by'),
      () => undefined,
    );
    void this.lease.acquire().then(async (acquired) => {
      if (!acquired || this.state !== 'running') return;
      try {
        await this.lead(true);
      } catch (error) {
        this.options.logger.error({ err: error }, 'taking over supervision failed; giving the lease back and standing by');
        await this.endTerm();
        await this.lease.release().catch(() => undefined);
        setTimeout(() => this.state === 'running' && this.standBy(), TAKEOVER_RETRY_MS);
      }
    });
  }

  /**
   * Without its session this orchestrator may no longer be the supervisor: it stops deciding at
   * once and leaves the workers running; once the session is renewed it rejoins.
   */
  private async onSessionLost(): Promise<void> {
    this.options.logger.error({ supervising: this.isSupervising }, 'ZooKeeper session expired; stepping down until a new session is open');
    await this.endTerm();
  }

  private onSessionRenewed(): void {
    if (this.state !== 'running') return;
    this.options.logger.info('new ZooKeeper session; rejoining as supervisor or standby');
    this.standBy();
  }

  private async endTerm(): Promise<void> {
    const term = this.term;
    this.term = undefined;
    term?.autoscaler?.stop();
    await term?.supervisor.detach();
  }

  private async whenSupervising<T>(action: (supervisor: Supervisor) => Promise<T>): Promise<T> {
    const term = this.term;
    if (term) return action(term.supervisor);
    const holder = await this.lease.holder().catch(() => undefined);
    throw new UnavailableError(`this orchestrator is standing by; the supervising one is pid ${holder?.pid ?? 'unknown'}: send crash calls there`);
  }

  async scalingReport(): Promise<unknown> {
    const started = this.term?.autoscaler?.clockStartedAt;
    return {
      enabled: this.options.scaling !== undefined,
      ...(this.options.scaling ?? {}),
      clockStartedAt: started === undefined ? null : new Date(started).toISOString(),
      desiredSlaves: await new DesiredSlaves(this.zk, this.options.cluster).get(this.options.initialSlaves ?? 1),
      decisions: this.term?.autoscaler?.decisions() ?? [],
    };
  }

  async workerPids(): Promise<number[]> {
    const workers = await this.workers();
    return workers.map((worker) => worker.pid).sort((a, b) => a - b);
  }
}
