/**
 * Decides what a starting supervisor finds: a running cluster to adopt, the data of a stopped one
 * to recover, or nothing. A DATA_DIR without the cluster marker is a new cluster: whatever an
 * older cluster of the same name left in RabbitMQ or ZooKeeper is removed first, so a fresh
 * DATA_DIR never sees an old cluster's messages. A new cluster with a restore pending (a backup
 * installed by `npm run restore`, src/dbaas/backup/restore.ts) then starts from that file, as a
 * cold start does from the files of a previous run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { listWorkers, type WorkerInfo } from '../coordination/worker-registry.ts';
import { isZkError, ZkErrorCode, type ZkClient } from '../coordination/ZkClient.ts';
import { clusterNames, clusterPaths } from '../protocol/names.ts';
import { connectAmqp } from '../transport/amqp.ts';
import { assertSyncLog } from '../transport/topology.ts';
import { clearPendingRestore, clusterMarkerOf, readPendingRestore } from './cluster-files.ts';
import { holdingQueueOf } from './queue-conversion.ts';
import { NoRunningClusterError } from './supervision-mode.ts';

export type BootstrapOutcome = { kind: 'adopt'; workers: WorkerInfo[] } | { kind: 'cold-start' } | { kind: 'fresh' };

export interface BootstrapOptions {
  zk: ZkClient;
  amqpUrl: string;
  cluster: string;
  dataDir: string;
  workersDir: string;
  /** Taking over from another orchestrator: running workers are adopted even in a new DATA_DIR. */
  takeover?: boolean;
  /** Adopt running workers or nothing: no new cluster, no cold start (a `takeover` supervisor, supervision-mode.ts). */
  onlyRunning?: boolean;
  logger: Logger;
}

export class ClusterNameInUseError extends RideShareError {
  constructor(message: string) {
    super('TAKEN', message);
  }
}

export async function bootstrapCluster(options: BootstrapOptions): Promise<BootstrapOutcome> {
  const outcome = await findCluster(options);
  await declareSyncLog(options);
  return outcome;
}

async function findCluster(options: BootstrapOptions): Promise<BootstrapOutcome> {
  const { zk, cluster, dataDir, logger } = options;
  const marker = clusterMarkerOf(dataDir);
  const live = await listWorkers(zk, cluster);
  // Before anything is removed: a new cluster here would wipe the one whose data is elsewhere.
  if (options.onlyRunning && live.length === 0) {
    throw new NoRunningClusterError('no live worker to carry on: a cluster is started, and restarted from its files, where its data is');
  }
  if (fs.existsSync(marker)) {
    if (live.length > 0) return { kind: 'adopt', workers: live };
    await purgeMessages(options);
    return { kind: 'cold-start' };
  }
  if (live.length > 0 && options.takeover) {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(marker, JSON.stringify({ cluster, adoptedAt: new Date().toISOString() }, null, 2));
    return { kind: 'adopt', workers: live };
  }
  if (live.length > 0) {
    throw new ClusterNameInUseError(`cluster '${cluster}' is running elsewhere (${live.length} live workers) but ${dataDir} is new; choose another RIDESHARE_CLUSTER`);
  }
  const restore = readPendingRestore(dataDir);
  if (restore && !fs.existsSync(path.join(options.workersDir, restore.file))) {
    throw new RideShareError('CONFLICT', `the restore recorded in ${dataDir}/restore.json has no file ${restore.file} in ${options.workersDir}; run npm run restore again`);
  }
  // The supervisor lease, just taken by this orchestrator, is what keeps the others out: it stays;
  // so do the host agents, running already (their nodes are ephemeral: none outlives its agent).
  await removeTree(zk, clusterPaths(cluster).root, new Set([clusterPaths(cluster).supervisor, clusterPaths(cluster).agents]));
  await purgeMessages(options, { syncLog: true });
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(marker, JSON.stringify({ cluster, createdAt: new Date().toISOString(), ...(restore ? { restoredFrom: restore } : {}) }, null, 2));
  if (restore) {
    // From here on the marker holds the record, and a restart is an ordinary cold start.
    clearPendingRestore(dataDir);
    logger.info({ cluster, dataDir, from: restore.from, seq: restore.seq, epoch: restore.epoch }, 'new cluster, restored from a backup');
    return { kind: 'cold-start' };
  }
  logger.info({ cluster, dataDir }, 'new cluster');
  return { kind: 'fresh' };
}

/**
 * Old requests must not reach a new generation of workers; nor, in a new cluster, the old one's
 * sync log. A cold start keeps the log: what it holds past the files is its own cluster's.
 */
async function purgeMessages(options: BootstrapOptions, also: { syncLog: boolean } = { syncLog: false }): Promise<void> {
  const names = clusterNames(options.cluster);
  const connection = await connectAmqp(options.amqpUrl);
  try {
    // A conversion cut short (queue-conversion.ts) left its messages in a holding queue: old ones too.
    const requestQueues = names.allQueues().flatMap((name) => [name, holdingQueueOf(name)]);
    for (const queue of also.syncLog ? [...requestQueues, names.syncLog] : requestQueues) {
      const channel = await connection.createChannel();
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/**
 * The sync log is declared by the supervisor, before it starts a worker, and again by each new
 * master, which the supervisor places on its own host; by nobody else: a stream's leader is the
 * node of the connection that declares it, and the master publishes every group to that leader.
 */
async function declareSyncLog(options: BootstrapOptions): Promise<void> {
  const connection = await connectAmqp(options.amqpUrl);
  try {
    await assertSyncLog(connection, clusterNames(options.cluster));
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/**
 * Removes `node` and everything under it but the nodes in `keep` and their ancestors (the cluster's
 * root holds the lease, so it stays: removing it would also need rights on /rideshare, which may
 * belong to another cluster's credentials). True when something was kept.
 */
async function removeTree(zk: ZkClient, node: string, keep: ReadonlySet<string>): Promise<boolean> {
  if (keep.has(node)) return true;
  let kept = false;
  for (const child of await zk.getChildrenIfExists(node)) kept = (await removeTree(zk, `${node}/${child}`, keep)) || kept;
  if (kept) return true;
  try {
    await zk.removeIfExists(node);
    return false;
  } catch (error) {
    // A child appeared meanwhile (an ephemeral node of a process starting): the node stays.
    if (!isZkError(error, ZkErrorCode.NOT_EMPTY)) throw error;
    return true;
  }
}
