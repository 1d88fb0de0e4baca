/**
 * The database service's front door: an HTTP server that turns db/read and db/write into RPCs
 * on RabbitMQ (it never opens a database), plus the supervisor that keeps the workers running.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../../shared/logger.ts';
import { installErrorHandling } from '../../shared/http.ts';
import { ZkClient } from '../coordination/ZkClient.ts';
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

export class Orchestrator {
  private readonly zk: ZkClient;
  private readonly rpc: RpcClient;
  readonly supervisor: Supervisor;
  readonly runtime: WorkerRuntime;
  private readonly app: FastifyInstance;
  readonly database: DatabaseFrontend;
  readonly readCounter: ReadCounter;
  readonly autoscaler: Autoscaler | undefined;
  private address = '';

  constructor(private readonly options: OrchestratorOptions) {
    const names = clusterNames(options.cluster);
    this.zk = new ZkClient({ connect: options.zkConnect, sessionTimeoutMs: 10_000 });
    this.rpc = new RpcClient({ amqpUrl: options.amqpUrl, names, timeoutMs: options.rpcTimeoutMs, logger: options.logger });
    this.readCounter = new ReadCounter(this.zk, options.cluster, `o-${randomBytes(4).toString('hex')}`, options.logger);
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
      crashMaster: () => this.supervisor.crashMaster(),
      crashSlave: () => this.supervisor.crashSlave(),
      scaling: () => this.scalingReport(),
    });
  }

  get url(): string {
    return this.address;
  }

  async start(): Promise<void> {
    await this.zk.connect();
    await this.rpc.start();
    await this.supervisor.start();
    this.readCounter.start();
    await this.autoscaler?.start();
    await this.app.listen({ port: this.options.port, host: this.options.host ?? '127.0.0.1' });
    const address = this.app.server.address();
    const port = typeof address === 'object' && address ? address.port : this.options.port;
    this.address = `http://127.0.0.1:${port}`;
  }

  /** Stops the HTTP server, the workers, then the connections (reverse order of start). */
  async stop(): Promise<void> {
    await this.app.close();
    this.autoscaler?.stop();
    await this.readCounter.stop();
    await this.supervisor.stop();
    await this.rpc.close();
    this.zk.close();
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
