/**
 * The master's lease: a new epoch granted by compare-and-set on /epoch together with the
 * ephemeral /master znode, which only one session can hold (one transaction). The lease lasts as long as the ZooKeeper
 * session; the holder must stop taking writes the moment the session expires. The version of
 * /epoch that the holder's own compare-and-set produced is its fencing token: every commit record
 * it writes checks it (commit-record.ts), so once a successor bumps /epoch, nothing more of this
 * epoch is ever recorded, hence answered.
 */
import { z } from 'zod';
import { RideShareError } from '../../shared/errors.ts';
import { clusterPaths } from '../protocol/names.ts';
import { count, countRecord, id, looseRecord, pid } from './records.ts';
import { CreateMode, isZkError, ZkErrorCode, type ZkClient } from './ZkClient.ts';

/** What /master holds: who holds the lease, and for which epoch. */
const masterShape = z.object({ workerId: id, pid, epoch: count });
export type MasterRecord = z.infer<typeof masterShape>;
const masterRecord = looseRecord(masterShape);

/** Another worker holds the master lease (or took it first). */
export class MasterTakenError extends RideShareError {
  constructor(message: string) {
    super('TAKEN', message);
  }
}

/** A granted lease: the /master record, and the version of /epoch that granting it produced. */
export interface MasterLease {
  record: MasterRecord;
  /** /epoch's version right after this master's own bump: a later bump by anyone changes it. */
  epochVersion: number;
}

/** /epoch as it is now (created, empty, if missing), with its version. */
async function readEpoch(zk: ZkClient, path: string): Promise<{ data: number | undefined; version: number }> {
  const node = await zk.readNodeIfExists(path, countRecord);
  if (node) return node;
  await zk.ensurePath(path);
  return zk.readNode(path, countRecord);
}

/**
 * The next epoch, strictly above both ZooKeeper's and the replica's own, and the /master znode
 * in one transaction: the bump that fences every older epoch and the lease go together, one
 * round trip once /epoch is read (the promotion waits for it, and writes with it).
 */
export async function acquireMasterLease(zk: ZkClient, cluster: string, candidate: { workerId: string; pid: number; localEpoch: number }): Promise<MasterLease> {
  const paths = clusterPaths(cluster);
  const [holder, read] = await Promise.all([readMaster(zk, cluster), readEpoch(zk, paths.epoch)]);
  if (holder && holder.workerId !== candidate.workerId) {
    throw new MasterTakenError(`worker ${holder.workerId} (pid ${holder.pid}) already holds the master lease`);
  }
  for (let current = read; ; current = await readEpoch(zk, paths.epoch)) {
    const epoch = Math.max(current.data ?? 0, candidate.localEpoch) + 1;
    const record: MasterRecord = { workerId: candidate.workerId, pid: candidate.pid, epoch };
    try {
      const epochVersion = await zk.setAndCreate(paths.epoch, epoch, current.version, paths.master, record, CreateMode.EPHEMERAL);
      return { record, epochVersion };
    } catch (error) {
      if (isZkError(error, ZkErrorCode.NODE_EXISTS)) throw new MasterTakenError('another worker took the master lease first');
      // Another bump came between the read and the transaction: read again, and go above it.
      if (!isZkError(error, ZkErrorCode.BAD_VERSION)) throw error;
    }
  }
}

export async function readMaster(zk: ZkClient, cluster: string): Promise<MasterRecord | undefined> {
  return (await zk.readNodeIfExists(clusterPaths(cluster).master, masterRecord))?.data;
}

/**
 * Removes the master lease when `workerId` holds it (a worker known dead), or whoever holds it
 * when no worker is named (before a promotion: the old master is gone, or will be fenced by its
 * successor's bump of /epoch, which no commit record of its own survives).
 */
export async function clearMasterLease(zk: ZkClient, cluster: string, workerId?: string): Promise<void> {
  const path = clusterPaths(cluster).master;
  const node = await zk.readNodeIfExists(path, masterRecord);
  if (!node || (workerId !== undefined && node.data?.workerId !== workerId)) return;
  await zk.removeIfExists(path, node.version);
}
