/**
 * Keeps the cluster's workers running through a worker runtime: on start it adopts a running
 * cluster or starts one master and the desired slaves; it waits for each to report ready in
 * ZooKeeper. The runtime starts and kills; the supervisor decides.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import { listWorkers } from '../coordination/WorkerRegistry.ts';
import { isZkError, ZkErrorCode, type ZkClient } from '../coordination/ZkClient.ts';
import { clusterPaths, type WorkerInfo } from '../protocol/names.ts';
import type { WorkerHandle, WorkerRuntime } from '../runtime/WorkerRuntime.ts';
import { bootstrapCluster } from './ClusterBootstrap.ts';

export interface SupervisorOptions {
  runtime: WorkerRuntime;
  zk: ZkClient;
  cluster: string;
  dataDir: string;
  amqpUrl: string;
  zkConnect: string;
  initialSlaves: number;
  /** Passed through to workers (timeouts, log level). */
  workerSettings: Record<string, string>;
  readyTimeoutMs?: number;
  logger: Logger;
}

export class Supervisor {
  private readonly workersDir: string;
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {
    this.workersDir = path.join(options.dataDir, 'workers');
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.workersDir, { recursive: true });
    const outcome = await bootstrapCluster({ ...this.options, workersDir: this.workersDir });
    if (outcome.kind === 'adopt') {
      this.options.logger.info({ workers: outcome.workers.map((worker) => worker.pid) }, 'adopting the running workers');
      return;
    }
    await this.startWorker('master', outcome.kind === 'cold-start' ? outcome.recoverDir : undefined);
    for (let i = 0; i < this.options.initialSlaves; i += 1) await this.startWorker('slave');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.options.runtime.close();
  }

  /** The registered workers, as ZooKeeper knows them. */
  workers(): Promise<WorkerInfo[]> {
    return listWorkers(this.options.zk, this.options.cluster);
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Starts a worker and resolves once it reports ready (a slave: caught up and serving). */
  async startWorker(role: 'master' | 'slave', recoverDir?: string): Promise<WorkerHandle> {
    const workerId = `${role === 'master' ? 'm' : 's'}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const handle = await this.options.runtime.start({
      workerId,
      role,
      env: {
        ...this.options.workerSettings,
        WORKER_ID: workerId,
        WORKER_ROLE: role,
        WORKER_DB_FILE: path.join(this.workersDir, `${workerId}.db`),
        ...(recoverDir ? { WORKER_RECOVER_DIR: recoverDir } : {}),
        RIDESHARE_CLUSTER: this.options.cluster,
        AMQP_URL: this.options.amqpUrl,
        ZK_CONNECT: this.options.zkConnect,
      },
    });
    this.options.logger.info({ workerId, pid: handle.pid, role }, 'worker started');
    await this.waitReady(handle);
    return handle;
  }

  private async waitReady(handle: WorkerHandle): Promise<WorkerInfo> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 60_000);
    const node = clusterPaths(this.options.cluster).workerNode(handle.workerId);
    while (Date.now() < deadline) {
      if (!this.options.runtime.list().some((running) => running.workerId === handle.workerId)) {
        throw new Error(`worker ${handle.workerId} (pid ${handle.pid}) exited before it was ready`);
      }
      try {
        const { data } = await this.options.zk.getData<WorkerInfo>(node);
        if (data?.ready) return data;
      } catch (error) {
        if (!isZkError(error, ZkErrorCode.NO_NODE)) throw error;
      }
      await sleep(25);
    }
    throw new Error(`worker ${handle.workerId} (pid ${handle.pid}) was not ready in time`);
  }
}
