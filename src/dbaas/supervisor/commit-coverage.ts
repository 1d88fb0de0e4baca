/**
 * The last check before a master starts from files: the file it will take (the most advanced of
 * this supervisor's folder, once restart-sources.ts brought the cluster's best there) must hold
 * every write ZooKeeper's commit record says was answered. The record `{epoch E, seq S}` is
 * written after the broker confirmed a write and before it is answered, so every answered write
 * has a seq ≤ S in epoch E's history. A file covers it when it is of epoch E or later and has
 * applied S or more: a replica of epoch E holds E's history; a file of a later epoch belongs to a
 * master that drained everything confirmed before it took that epoch, which every record of E
 * preceded. A file of an earlier epoch may branch off E's history below S, whatever its seq, so
 * it does not cover. Writes past S in a covering file were never answered; they may stay.
 *
 * Checked here, in the supervisor, and not in the worker's recovery: a master's first act is a
 * commit record of its own position, which would overwrite the evidence of what is missing, and
 * recovery deletes the other files; the supervisor also repeats a refusal every pass without
 * starting a process each time.
 */
import type { Logger } from '../../shared/logger.ts';
import { readCommitRecord, type CommitRecord } from '../coordination/commit-record.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import type { ReplicationPosition } from '../replication/ReplicaStore.ts';
import { mostAdvancedFile, type Candidate } from '../worker/recovery.ts';
import { givenUpWritesPath, readGivenUpWrites } from './given-up-writes.ts';
import { RestartRefusedError } from './restart-refused.ts';

export interface CommitCoverageOptions {
  zk: ZkClient;
  cluster: string;
  /** The folder the master will take its file from. */
  workersDir: string;
  /** Where the operator's give-up record is looked for (given-up-writes.ts). */
  dataDir: string;
  logger: Logger;
}

/**
 * How a restart from files may go on: `no-record` (a cluster from before commit records, or one
 * whose master never recorded: as before them), `covered`, or `given-up` (the operator accepted
 * the loss of this record's missing writes). Throws FilesBehindCommitError otherwise.
 */
export type CommitCoverage = 'no-record' | 'covered' | 'given-up';

export async function checkCommitCoverage(options: CommitCoverageOptions): Promise<CommitCoverage> {
  const committed = await readCommitRecord(options.zk, options.cluster);
  if (!committed) return 'no-record';
  const best = mostAdvancedFile(options.workersDir);
  if (best && coversCommit(best, committed)) return 'covered';
  const givenUp = readGivenUpWrites(options.dataDir);
  if (givenUp && givenUp.epoch === committed.epoch && givenUp.seq === committed.seq) {
    options.logger.error(
      { committed, file: best?.file, fileEpoch: best?.epoch, fileSeq: best?.appliedSeq, givenUp: givenUpWritesPath(options.dataDir) },
      'acknowledged writes given up by the operator: restarting from a file behind the commit record',
    );
    return 'given-up';
  }
  // Logged by the pass that called (once, then every 30 s while it repeats: RepeatedErrorLog).
  throw new FilesBehindCommitError(committed, best, options.workersDir, options.dataDir);
}

/** True when a file at `position` holds every write the commit record says was answered. */
export function coversCommit(position: ReplicationPosition, committed: CommitRecord): boolean {
  return position.epoch >= committed.epoch && position.appliedSeq >= committed.seq;
}

export class FilesBehindCommitError extends RestartRefusedError {
  constructor(committed: CommitRecord, best: Candidate | undefined, workersDir: string, dataDir: string) {
    const lack = !best
      ? `no file in ${workersDir} holds a replication position, so writes 1..${committed.seq} are missing`
      : best.epoch < committed.epoch
        ? `the most advanced file, ${best.file} (epoch ${best.epoch}, seq ${best.appliedSeq}), is of an older epoch and may lack any of the writes acknowledged under epoch ${committed.epoch}, up to seq ${committed.seq}`
        : `the most advanced file, ${best.file} (epoch ${best.epoch}, seq ${best.appliedSeq}), lacks the acknowledged writes of seqs ${best.appliedSeq + 1}..${committed.seq}`;
    super(
      `ZooKeeper's commit record says every write up to seq ${committed.seq} of epoch ${committed.epoch} was acknowledged, but ${lack}. ` +
        `They may be in a worker file kept elsewhere (a copy of this DATA_DIR, another supervisor's folder, a backup): copy a *.db file of epoch ${committed.epoch} or later at seq ${committed.seq} or more into ${workersDir} and the cluster restarts by itself. ` +
        `If those writes are gone for good, give them up: write {"epoch": ${committed.epoch}, "seq": ${committed.seq}} to ${givenUpWritesPath(dataDir)}.`,
    );
  }
}
