/**
 * Starts a real database service for a test: an in-process orchestrator (port 0) whose workers
 * are real processes on the test's RabbitMQ and ZooKeeper, in a cluster of its own (unique name,
 * own temporary DATA_DIR), so tests never see each other's queues or znodes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Tokens } from '../src/shared/auth/tokens.ts';
import { loadConfig, tokensFor } from '../src/shared/config.ts';
import { createLogger, type Logger } from '../src/shared/logger.ts';
import { clusterSettingsFrom } from '../src/dbaas/settings/ClusterSettings.ts';
import { workerTuningFrom } from '../src/dbaas/settings/WorkerTuning.ts';
import { Orchestrator, type ScalingOptions } from '../src/dbaas/orchestrator/Orchestrator.ts';
import { ProcessRuntime } from '../src/dbaas/runtime/ProcessRuntime.ts';
import { MessageSigner } from '../src/dbaas/transport/signing.ts';
import type { WorkerRuntime } from '../src/dbaas/runtime/WorkerRuntime.ts';
import type { ZkCredentials } from '../src/dbaas/coordination/ZkClient.ts';
import { testServers } from './inject.ts';
import amqp from 'amqplib';
import { clusterNames } from '../src/dbaas/protocol/names.ts';
import { holdingQueueOf } from '../src/dbaas/supervisor/queue-conversion.ts';

export interface DatabaseServiceHandle {
  orchestratorUrl: string;
  orchestrator: Orchestrator;
  /** The bearer tokens, when the test turned authorization on. */
  tokens?: Tokens;
  /** Signs messages as the cluster's own processes do (for tests that publish to its queues). */
  signer: MessageSigner;
  /** Where the workers run: tests kill and list workers through it. */
  runtime: WorkerRuntime;
  cluster: string;
  dataDir: string;
  amqpUrl: string;
  zkConnect: string;
  /** The cluster's ZooKeeper credentials (tests that change its znodes themselves sign in with them). */
  zkAuth: ZkCredentials;
  stop(): Promise<void>;
}

export interface DatabaseServiceOptions {
  cluster?: string;
  /** Worker and orchestrator settings: RPC_TIMEOUT_MS, READ_WAIT_MS, READ_HEDGE_MS, ZK_SESSION_TIMEOUT_MS, LOG_LEVEL, ORCHESTRATOR_SUPERVISES. */
  env?: Record<string, string>;
  slaves?: number;
  dataDir?: string;
  /** Where the workers run; local processes unless given (made for this cluster and data dir). */
  runtime?: WorkerRuntime;
  /** The orchestrator's port; 0 (any free one) unless given, e.g. to come back where clients already point. */
  port?: number;
  /** Auto-scaling; off unless asked for, so that other tests keep the slaves they started with. */
  scaling?: ScalingOptions;
  /** Where the orchestrator logs; stdout at LOG_LEVEL unless given (a test reading the logs gives its own). */
  logger?: Logger;
  /**
   * The host this orchestrator is the agent of (workers placed through ZooKeeper). Its workers'
   * processes are tagged with the host too, so several such hosts share one machine without
   * adopting or killing each other's workers.
   */
  agentHost?: string;
  /** Another broker than the run's shared one (a private node the test controls, or a proxy in front of it). */
  amqpUrl?: string;
}

export function uniqueClusterName(prefix = 'test'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export async function startDatabaseService(options: DatabaseServiceOptions = {}): Promise<DatabaseServiceHandle> {
  const servers = testServers();
  const { zkConnect } = servers;
  const amqpUrl = options.amqpUrl ?? servers.amqpUrl;
  const cluster = options.cluster ?? uniqueClusterName();
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));
  // The product's one settings parse, with the tests' short session and quiet logs unless overridden.
  // Authorization is off unless a test turns it on (RIDESHARE_AUTH: 'on'): most tests are about other things.
  const config = loadConfig({
    ZK_SESSION_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'warn',
    RIDESHARE_AUTH: 'off',
    DATA_DIR: dataDir,
    ...options.env,
    RIDESHARE_CLUSTER: cluster,
    AMQP_URL: amqpUrl,
    ZK_CONNECT: zkConnect,
  });
  const tokens = config.RIDESHARE_AUTH ? tokensFor(config) : undefined;
  const clusterSettings = clusterSettingsFrom(config);
  const logger = options.logger ?? createLogger('test-orchestrator', config.LOG_LEVEL);
  // TEST_AGENT_HOST=<name> runs every test's orchestrators as agents of that one host: the single-host
  // suites then exercise the placement path with one host.
  const agentHost = options.agentHost ?? (process.env.TEST_AGENT_HOST || undefined);
  const tagScope = agentHost === undefined ? cluster : `${cluster}@${agentHost}`;
  const runtime = options.runtime ?? new ProcessRuntime({ cluster: tagScope, logDir: path.join(dataDir, 'logs'), logger });
  const orchestrator = new Orchestrator({
    port: options.port ?? 0,
    ...clusterSettings,
    dataDir,
    rpcTimeoutMs: config.RPC_TIMEOUT_MS,
    readHedgeMs: config.READ_HEDGE_MS,
    sessionTimeoutMs: config.ZK_SESSION_TIMEOUT_MS,
    initialSlaves: options.slaves ?? 1,
    supervises: config.ORCHESTRATOR_SUPERVISES,
    workerTuning: workerTuningFrom(config),
    auth: tokens ? { enabled: true, tokens } : { enabled: false },
    ...(options.scaling ? { scaling: options.scaling } : {}),
    ...(agentHost === undefined ? {} : { agentHost }),
    runtime,
    logger,
  });
  try {
    await orchestrator.start();
  } catch (error) {
    // A start that is refused (a test of exactly that) leaves no folder behind either.
    await orchestrator.stop().catch(() => undefined);
    if (!options.dataDir && !process.env.KEEP_TEST_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    orchestratorUrl: orchestrator.url,
    orchestrator,
    ...(tokens ? { tokens } : {}),
    signer: new MessageSigner(clusterSettings.clusterKey),
    runtime,
    cluster,
    dataDir,
    amqpUrl,
    zkConnect,
    zkAuth: clusterSettings.zkAuth,
    async stop() {
      await orchestrator.stop();
      // A cluster named here is this handle's alone: its quorum queues must not outlive the test
      // on a broker others share. Not while workers were left running for someone else.
      if (!options.cluster && runtime.list().length === 0) await removeClusterTopology(amqpUrl, cluster);
      if (!options.dataDir && !process.env.KEEP_TEST_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Deletes a stopped cluster's queues (holding queues of a conversion included) and exchanges; best effort. */
export async function removeClusterTopology(amqpUrl: string, cluster: string): Promise<void> {
  const names = clusterNames(cluster);
  const connection = await amqp.connect(amqpUrl).catch(() => undefined);
  if (!connection) return;
  connection.on('error', () => undefined);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    for (const queue of names.allQueues()) {
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.deleteQueue(holdingQueueOf(queue)).catch(() => undefined);
    }
    await channel.deleteQueue(names.syncLog).catch(() => undefined);
    await channel.deleteExchange(names.deadLetterExchange).catch(() => undefined);
    await channel.deleteExchange(names.syncExchange).catch(() => undefined);
  } catch {
    // A broker gone already (a test that stopped it) keeps nothing of ours either.
  } finally {
    await connection.close().catch(() => undefined);
  }
}
