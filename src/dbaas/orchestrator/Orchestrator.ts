/**
 * The database service's front door: an HTTP server that turns db/read and db/write into RPCs
 * on RabbitMQ (it never opens a database), plus the supervisor that keeps the workers running.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../../shared/logger.ts';
import { installErrorHandling } from '../../shared/http.ts';
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
  readonly supervisor: Supervisor;
  readonly runtime: WorkerRuntime;
  private readonly app: FastifyInstance;
  readonly database: DatabaseFrontend;
  readonly readCounter: ReadCounter;
  readonly autoscaler: Autoscaler | undefined;
  private readonly id = `o-${randomBytes(4).toString('hex')}`;
  private readonly lease: SupervisorLease;
  private supervising = false;
  private address = '';

  constructor(private readonly options: OrchestratorOptions) {
    super();
    const names = clusterNames(options.cluster);
    // Its session decides how soon a standby orchestrator takes over from a dead supervising one.
    this.zk = new ZkClient({ connect: options.zkConnect, sessionTimeoutMs: options.sessionTimeoutMs ?? 4000 });
    this.lease = new SupervisorLease(this.zk, options.cluster, { orchestratorId: this.id, pid: process.pid });
    this.rpc = new RpcClient({ amqpUrl: options.amqpUrl, names, timeoutMs: options.rpcTimeoutMs, logger: options.logger });
    this.readCounter = new ReadCounter(this.zk, options.cluster, this.id, options.logger);
    this.database = new DatabaseFrontend(this.rpc, names, () => {
      this.readCounter.count();
      this.autoscaler?.noticeRead();
    });
    const runtime = options.runtime ?? new ProcessRuntime({ logDir: path.join(options.dataDir, 'logs') });
    this.runtime = runtime;
    this.supervisor = new Supervisor({
      runtime,
      zk: this.zk,
      cluster: options.cluster,
      dataDir: options.dataDir,
      amqpUrl: options.amqpUrl,
      zkConnect: options.zkConnect,
      initialSlaves: options.initialSlaves ?? 1,
      workerSettings: options.workerSettings ?? {},
      logger: options.logger.child({ component: 'supervisor' }),
    });
    this.autoscaler = options.scaling
      ? new Autoscaler({
          zk: this.zk,
          cluster: options.cluster,
          ...options.scaling,
          flushLocalCount: () => this.readCounter.publish(),
          currentDesired: () => this.supervisor.desiredSlaves(),
          setDesired: (count) => this.supervisor.setDesiredSlaves(count),
          logger: options.logger.child({ component: 'autoscaler' }),
        })
      : undefined;
    this.app = Fastify({ loggerInstance: options.logger.child({ component: 'orchestrator-http' }, { level: 'warn' }) as FastifyBaseLogger });
    installErrorHandling(this.app);
    registerRoutes(this.app, {
      database: this.database,
      listWorkerPids: () => this.workerPids(),
      crashMaster: () => this.whenSupervising(() => this.supervisor.crashMaster()),
      crashSlave: () => this.whenSupervising(() => this.supervisor.crashSlave()),
      scaling: () => this.scalingReport(),
    });
  }

  get url(): string {
    return this.address;
  }

  /**
   * Connects, then supervises if no other orchestrator does (resolving once the workers are up),
   * or stands by: it serves the API at once and takes over when the supervising one goes away.
   */
  async start(): Promise<void> {
    await this.zk.connect();
    this.zk.on('expired', () => this.onSessionLost());
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
   */
  async stop(options: { leaveWorkers?: boolean } = {}): Promise<void> {
    this.lease.cancel();
    await this.app.close();
    this.autoscaler?.stop();
    await this.readCounter.stop();
    if (this.supervising) await (options.leaveWorkers ? this.supervisor.detach() : this.supervisor.stop());
    await this.rpc.close();
    this.zk.close();
  }

  get isSupervising(): boolean {
    return this.supervising;
  }

  private async lead(takeover: boolean): Promise<void> {
    this.supervising = true;
    this.options.logger.info({ orchestratorId: this.id, takeover }, 'supervising the cluster');
    await this.supervisor.start(takeover);
    await this.autoscaler?.start();
  }

  private standBy(): void {
    void this.lease.holder().then((holder) => this.options.logger.info({ holder }, 'another orchestrator supervises; standing by'));
    void this.lease
      .acquire()
      .then((acquired) => (acquired ? this.lead(true) : undefined))
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'taking over supervision failed'));
  }

  /**
   * Without its session this orchestrator may no longer be the supervisor: it stops deciding at
   * once and leaves the workers to whoever takes the lease. The process must be restarted.
   */
  private onSessionLost(): void {
    this.options.logger.fatal('ZooKeeper session expired; no longer supervising');
    this.autoscaler?.stop();
    if (this.supervising) void this.supervisor.detach();
    this.supervising = false;
    this.emit('fatal', 'ZooKeeper session expired');
  }

  private async whenSupervising<T>(action: () => Promise<T>): Promise<T> {
    if (this.supervising) return action();
    const holder = await this.lease.holder();
    throw new UnavailableError(`this orchestrator is standing by; the supervising one is pid ${holder?.pid ?? 'unknown'}: send crash calls there`);
  }

  async scalingReport(): Promise<unknown> {
    const started = this.autoscaler?.clockStartedAt;
    return {
      enabled: this.autoscaler !== undefined,
      ...(this.options.scaling ?? {}),
      clockStartedAt: started === undefined ? null : new Date(started).toISOString(),
      desiredSlaves: await this.supervisor.desiredSlaves(),
      decisions: this.autoscaler?.decisions() ?? [],
    };
  }

  async workerPids(): Promise<number[]> {
    const workers = await this.supervisor.workers();
    return workers.map((worker) => worker.pid).sort((a, b) => a - b);
  }
}
