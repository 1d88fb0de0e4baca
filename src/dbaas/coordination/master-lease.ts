/**
 * The master's lease: a new epoch granted by compare-and-set on /epoch, then the ephemeral
 * /master znode, which only one session can hold. The lease lasts as long as the ZooKeeper
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

/** Grants the next epoch, strictly above both ZooKeeper's and the replica's own; with /epoch's version after the grant. */
async function nextEpoch(zk: ZkClient, path: string, atLeast: number): Promise<{ epoch: number; version: number }> {
  await zk.ensurePath(path);
  for (;;) {
    const { data, version } = await zk.readNode(path, countRecord);
    const epoch = Math.max(data ?? 0, atLeast) + 1;
    try {
      return { epoch, version: await zk.setData(path, epoch, version) };
    } catch (error) {
      if (!isZkError(error, ZkErrorCode.BAD_VERSION)) throw error;
    }
  }
}

export async function acquireMasterLease(zk: ZkClient, cluster: string, candidate: { workerId: string; pid: number; localEpoch: number }): Promise<MasterLease> {
  const paths = clusterPaths(cluster);
  const holder = await readMaster(zk, cluster);
  if (holder && holder.workerId !== candidate.workerId) {
    throw new MasterTakenError(`worker ${holder.workerId} (pid ${holder.pid}) already holds the master lease`);
  }
  const { epoch, version: epochVersion } = await nextEpoch(zk, paths.epoch, candidate.localEpoch);
  const record: MasterRecord = { workerId: candidate.workerId, pid: candidate.pid, epoch };
  try {
    await zk.create(paths.master, record, CreateMode.EPHEMERAL);
  } catch (error) {
    if (isZkError(error, ZkErrorCode.NODE_EXISTS)) throw new MasterTakenError('another worker took the master lease first');
    throw error;
  }
  return { record, epochVersion };
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
