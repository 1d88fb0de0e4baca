/**
 * What replication needs of a replica's storage. Replication owns this contract and the worker's
 * Store implements it, so dependencies point one way: worker → replication.
 */
import type { SyncWrite } from '../protocol/sync.ts';

/** Where a replica is in the sync stream; a copy carries the position it contains. */
export interface ReplicationPosition {
  appliedSeq: number;
  epoch: number;
}

/** What a snapshot server reads: the seq applied so far and the SQLite file to copy. */
export interface SnapshotSource {
  readonly appliedSeq: number;
  readonly file: string;
}

export interface ReplicaStore {
  readonly appliedSeq: number;
  readonly epoch: number;
  /** Applies a write broadcast by the master; the caller has checked `seq === appliedSeq + 1`. */
  applyReplicated(message: SyncWrite): void;
  /** Runs `work` in one transaction: the writes of a sync group are committed together. */
  inTransaction<T>(work: () => T): T;
  /** Records that the replica now follows `epoch` (an epoch mark), without a write. */
  setEpoch(epoch: number): void;
  /** The request id applied at `seq`, while it is remembered. */
  requestAt(seq: number): string | undefined;
}
