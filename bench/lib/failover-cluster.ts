/**
 * A database service for failover measurements: the orchestrator in this process (so its
 * supervisor's ZooKeeper view can be read directly), workers as real processes, and a private
 * ZooKeeper with a 200 ms tick so sessions as short as the tests' can be measured too.
 */
import { loadConfig } from '../../src/shared/config.ts';
import { clusterSettingsFrom } from '../../src/dbaas/settings/ClusterSettings.ts';
import { workerTuningFrom } from '../../src/dbaas/settings/WorkerTuning.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Orchestrator } from '../../src/dbaas/orchestrator/Orchestrator.ts';
import { ProcessRuntime } from '../../src/dbaas/runtime/ProcessRuntime.ts';
import { ensureRabbitMq, ensureZooKeeper, type ServerHandle } from '../../src/infra/servers.ts';
import { createLogger } from '../../src/shared/logger.ts';

export interface FailoverCluster {
  orchestratorUrl: string;
  orchestrator: Orchestrator;
  dataDir: string;
  stop(): Promise<void>;
}

export interface FailoverClusterOptions {
  slaves: number;
  sessionTimeoutMs: number;
}

export async function startFailoverCluster(options: FailoverClusterOptions): Promise<FailoverCluster> {
  const logger = createLogger('bench-failover', process.env.LOG_LEVEL ?? 'warn');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-failover-'));
  const servers: ServerHandle[] = [];
  let orchestrator: Orchestrator | undefined;
  const stop = async () => {
    await orchestrator?.stop();
    for (const server of [...servers].reverse()) await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    servers.push(await ensureRabbitMq({ configuredUrl: process.env.AMQP_URL, dataDir, logger }));
    servers.push(await ensureZooKeeper({ dataDir, logger, tickMs: 200, alwaysPrivate: true }));
    const [rabbit, zookeeper] = servers as [ServerHandle, ServerHandle];
    const cluster = `failover-${Date.now().toString(36)}`;
    const config = loadConfig({
      ZK_SESSION_TIMEOUT_MS: String(options.sessionTimeoutMs),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      RIDESHARE_CLUSTER: cluster,
      AMQP_URL: rabbit.address,
      ZK_CONNECT: zookeeper.address,
    });
    orchestrator = new Orchestrator({
      port: 0,
      ...clusterSettingsFrom(config),
      dataDir,
      // The benchmarks measure the database service itself: no tokens between them and it.
      auth: { enabled: false },
      rpcTimeoutMs: 5000,
      sessionTimeoutMs: options.sessionTimeoutMs,
      initialSlaves: options.slaves,
      runtime: new ProcessRuntime({ cluster, logDir: path.join(dataDir, 'logs'), logger }),
      // AGENT_HOST=<name>: the same cluster with its workers placed through that host's agent.
      ...(process.env.AGENT_HOST ? { agentHost: process.env.AGENT_HOST } : {}),
      workerTuning: workerTuningFrom(config),
      logger,
    });
    await orchestrator.start();
    return { orchestratorUrl: orchestrator.url, orchestrator, dataDir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
