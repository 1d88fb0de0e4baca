/**
 * Decides what a starting supervisor finds: a running cluster to adopt, the data of a stopped one
 * to recover, or nothing. A DATA_DIR without the cluster marker is a new cluster: whatever an
 * older cluster of the same name left in RabbitMQ or ZooKeeper is removed first, so a fresh
 * DATA_DIR never sees an old cluster's messages.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { listWorkers } from '../coordination/WorkerRegistry.ts';
import { isZkError, ZkErrorCode, type ZkClient } from '../coordination/ZkClient.ts';
import { clusterNames, clusterPaths, type WorkerInfo } from '../protocol/names.ts';
import { connectAmqp } from '../transport/amqp.ts';

export type BootstrapOutcome = { kind: 'adopt'; workers: WorkerInfo[] } | { kind: 'cold-start'; recoverDir: string } | { kind: 'fresh' };

export interface BootstrapOptions {
  zk: ZkClient;
  amqpUrl: string;
  cluster: string;
  dataDir: string;
  workersDir: string;
  /** Taking over from another orchestrator: running workers are adopted even in a new DATA_DIR. */
  takeover?: boolean;
  logger: Logger;
}

export class ClusterNameInUseError extends RideShareError {
  constructor(message: string) {
    super('TAKEN', message);
  }
}

export async function bootstrapCluster(options: BootstrapOptions): Promise<BootstrapOutcome> {
  const { zk, cluster, dataDir, logger } = options;
  const marker = path.join(dataDir, 'cluster.json');
  const live = await listWorkers(zk, cluster);
  if (fs.existsSync(marker)) {
    if (live.length > 0) return { kind: 'adopt', workers: live };
    await purgeMessages(options);
    return { kind: 'cold-start', recoverDir: options.workersDir };
  }
  if (live.length > 0 && options.takeover) {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(marker, JSON.stringify({ cluster, adoptedAt: new Date().toISOString() }, null, 2));
    return { kind: 'adopt', workers: live };
  }
  if (live.length > 0) {
    throw new ClusterNameInUseError(
      `cluster '${cluster}' is running elsewhere (${live.length} live workers) but ${dataDir} is new; choose another RIDESHARE_CLUSTER`,
    );
  }
  // The supervisor lease, just taken by this orchestrator, is what keeps the others out: it stays.
  await removeTree(zk, clusterPaths(cluster).root, new Set([clusterPaths(cluster).supervisor]));
  await purgeMessages(options);
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(marker, JSON.stringify({ cluster, createdAt: new Date().toISOString() }, null, 2));
  logger.info({ cluster, dataDir }, 'new cluster');
  return { kind: 'fresh' };
}

/** Old requests and old sync messages must not reach a new generation of workers. */
async function purgeMessages(options: BootstrapOptions): Promise<void> {
  const names = clusterNames(options.cluster);
  const connection = await connectAmqp(options.amqpUrl);
  try {
    for (const queue of names.allQueues()) {
      const channel = await connection.createChannel();
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function removeTree(zk: ZkClient, node: string, keep: ReadonlySet<string>): Promise<void> {
  if (keep.has(node)) return;
  for (const child of await zk.getChildrenIfExists(node)) await removeTree(zk, `${node}/${child}`, keep);
  await zk.removeIfExists(node).catch((error: unknown) => {
    // A node that kept a child (the lease) is not empty: it stays too.
    if (!isZkError(error, ZkErrorCode.NOT_EMPTY)) throw error;
  });
}
