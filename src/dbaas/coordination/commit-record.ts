/**
 * The commit record, /committed = `{epoch, seq}`: every write up to `seq` is confirmed by the
 * broker and may be answered. The master writes it in one ZooKeeper transaction with a check of
 * /epoch at the version its own lease produced (master-lease.ts), after the broker confirmed a
 * group and before answering it. A successor's lease bumps /epoch first, so from that moment no
 * write of the old epoch can be recorded, hence answered: ZooKeeper's versioned transaction is
 * the fencing token, whether or not the old master could be killed. The supervisor reads the
 * record to prefer, as successor, a slave that already holds every answered write.
 */
import { z } from 'zod';
import { clusterPaths } from '../protocol/names.ts';
import { count, looseRecord } from './records.ts';
import { isZkError, type ZkClient, ZkErrorCode } from './ZkClient.ts';

const commitShape = z.object({ epoch: count, seq: count });
export type CommitRecord = z.infer<typeof commitShape>;
const commitRecord = looseRecord(commitShape);

/**
 * Records `record` if /epoch is still at `epochVersion`; a FencedError when it moved on (or a
 * node is missing), a TIMEOUT after `timeoutMs`. /committed must exist (ensureCommitRecord).
 *
 * A connection lost with the transaction in flight (the session's server gone, the session going
 * on through another one) is tried again until `timeoutMs` has passed: the first try may or may
 * not have been applied, and applying the same record twice changes nothing, while the check of
 * /epoch still refuses a master that was fenced meanwhile. Without a `timeoutMs`, one try.
 */
export async function writeCommitRecord(zk: ZkClient, cluster: string, epochVersion: number, record: CommitRecord, timeoutMs?: number): Promise<void> {
  const paths = clusterPaths(cluster);
  const deadline = timeoutMs === undefined ? undefined : performance.now() + timeoutMs;
  for (;;) {
    try {
      await zk.checkAndSet(paths.epoch, epochVersion, paths.committed, record, deadline === undefined ? undefined : Math.max(1, deadline - performance.now()));
      return;
    } catch (error) {
      if (deadline === undefined || !isZkError(error, ZkErrorCode.CONNECTION_LOSS) || performance.now() >= deadline) throw error;
    }
  }
}

/** Creates /committed (empty) if missing: the transaction sets it and cannot create it. */
export async function ensureCommitRecord(zk: ZkClient, cluster: string): Promise<void> {
  await zk.ensurePath(clusterPaths(cluster).committed);
}

/** The last commit record, or undefined before any master wrote one. */
export async function readCommitRecord(zk: ZkClient, cluster: string): Promise<CommitRecord | undefined> {
  return (await zk.readNodeIfExists(clusterPaths(cluster).committed, commitRecord))?.data;
}
