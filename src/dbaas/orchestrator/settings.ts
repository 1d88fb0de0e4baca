/** The orchestrator's share of the one configuration (src/shared/config.ts), typed for its parts. */
import { clusterKeyFor, zkCredentialsFor, type Config } from '../../shared/config.ts';
import type { WorkerTuning } from '../worker/WorkerSettings.ts';

/** What every worker of the cluster gets from this orchestrator's configuration. */
export function workerTuningFrom(config: Config): WorkerTuning {
  return {
    zkSessionTimeoutMs: config.ZK_SESSION_TIMEOUT_MS,
    readWaitMs: config.READ_WAIT_MS,
    snapshotTimeoutMs: config.SNAPSHOT_TIMEOUT_MS,
    durability: config.DURABILITY,
    logLevel: config.LOG_LEVEL,
    clusterKey: clusterKeyFor(config),
    zkAuth: zkCredentialsFor(config),
  };
}
