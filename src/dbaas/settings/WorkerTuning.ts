/**
 * The tuning every worker of a cluster shares (timeouts, durability, log level): no names, no
 * servers and no secrets, which are the cluster's (ClusterSettings.ts). The orchestrator's
 * configuration decides it; the supervisor hands it to each worker it starts.
 */
import type { Config } from '../../shared/config.ts';

export interface WorkerTuning {
  /** ZooKeeper session: how soon a frozen worker is declared dead. */
  zkSessionTimeoutMs: number;
  /** How long a lagging slave waits to serve a read that asks for a minimum seq. */
  readWaitMs: number;
  /** How long a joining replica waits for the master's position and a snapshot. */
  snapshotTimeoutMs: number;
  /** What a master's commit survives (docs/guarantees.md). */
  durability: 'process' | 'power';
  logLevel: string;
}

export function workerTuningFrom(config: Config): WorkerTuning {
  return {
    zkSessionTimeoutMs: config.ZK_SESSION_TIMEOUT_MS,
    readWaitMs: config.READ_WAIT_MS,
    snapshotTimeoutMs: config.SNAPSHOT_TIMEOUT_MS,
    durability: config.DURABILITY,
    logLevel: config.LOG_LEVEL,
  };
}
