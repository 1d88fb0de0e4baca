/**
 * The database service's front door: an HTTP server that turns db/read and db/write into RPCs
 * on RabbitMQ (it never opens a database), plus the supervisor that keeps the workers running.
 */
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
import { RpcClient } from './RpcClient.ts';

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
  logger: Logger;
}

export class Orchestrator {
  private readonly zk: ZkClient;
  private readonly rpc: RpcClient;
  readonly supervisor: Supervisor;
  readonly runtime: WorkerRuntime;
  private readonly app: FastifyInstance;
  readonly database: DatabaseFrontend;
  private address = '';

  constructor(private readonly options: OrchestratorOptions) {
    const names = clusterNames(options.cluster);
    this.zk = new ZkClient({ connect: options.zkConnect, sessionTimeoutMs: 10_000 });
    this.rpc = new RpcClient({ amqpUrl: options.amqpUrl, names, timeoutMs: options.rpcTimeoutMs, logger: options.logger });
    this.database = new DatabaseFrontend(this.rpc, names);
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
    this.app = Fastify({ loggerInstance: options.logger.child({ component: 'orchestrator-http' }, { level: 'warn' }) as FastifyBaseLogger });
    installErrorHandling(this.app);
    registerRoutes(this.app, {
      database: this.database,
      listWorkerPids: () => this.workerPids(),
      crashMaster: () => this.supervisor.crashMaster(),
      crashSlave: () => this.supervisor.crashSlave(),
    });
  }

  get url(): string {
    return this.address;
  }

  async start(): Promise<void> {
    await this.zk.connect();
    await this.rpc.start();
    await this.supervisor.start();
    await this.app.listen({ port: this.options.port, host: this.options.host ?? '127.0.0.1' });
    const address = this.app.server.address();
    const port = typeof address === 'object' && address ? address.port : this.options.port;
    this.address = `http://127.0.0.1:${port}`;
  }

  /** Stops the HTTP server, the workers, then the connections (reverse order of start). */
  async stop(): Promise<void> {
    await this.app.close();
    await this.supervisor.stop();
    await this.rpc.close();
    this.zk.close();
  }

  async workerPids(): Promise<number[]> {
    const workers = await this.supervisor.workers();
    return workers.map((worker) => worker.pid).sort((a, b) => a - b);
  }
}
