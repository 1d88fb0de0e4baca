/**
 * The orchestrator's view of the one configuration (src/shared/config.ts): what its process
 * needs, typed for its parts. Its cluster's settings (refused without the servers) and the
 * workers' tuning come from their own modules in src/dbaas/settings.
 */
import path from 'node:path';
import { tokensFor, type Config } from '../../shared/config.ts';
import type { CreateRuntimeOptions, RuntimeKind } from '../runtime/create-runtime.ts';
import { clusterSettingsFrom } from '../settings/ClusterSettings.ts';
import { workerTuningFrom } from '../settings/WorkerTuning.ts';
import type { OrchestratorOptions } from './Orchestrator.ts';

export interface OrchestratorSettings {
  /** Everything but the runtime and the logger, which the process makes. */
  orchestrator: Omit<OrchestratorOptions, 'runtime' | 'logger'>;
  runtime: { kind: RuntimeKind; options: Omit<CreateRuntimeOptions, 'logger'> };
}

/** Throws a ConfigError when the cluster's servers are not set. */
export function orchestratorSettingsFrom(config: Config): OrchestratorSettings {
  const cluster = clusterSettingsFrom(config);
  return {
    orchestrator: {
      ...cluster,
      port: config.ORCHESTRATOR_PORT,
      host: config.BIND_HOST,
      dataDir: config.DATA_DIR,
      rpcTimeoutMs: config.RPC_TIMEOUT_MS,
      readHedgeMs: config.READ_HEDGE_MS,
      sessionTimeoutMs: config.ZK_SESSION_TIMEOUT_MS,
      initialSlaves: 1,
      supervises: config.ORCHESTRATOR_SUPERVISES,
      scaling: { windowMs: config.SCALE_WINDOW_SECONDS * 1000, readsPerSlave: config.READS_PER_SLAVE, maxSlaves: config.MAX_SLAVES },
      workerTuning: workerTuningFrom(config),
      ...(config.AGENT_HOST ? { agentHost: config.AGENT_HOST } : {}),
      drainMs: config.SHUTDOWN_DRAIN_MS,
      observability: { accessLog: config.ACCESS_LOG, metrics: config.METRICS },
      auth: config.RIDESHARE_AUTH ? { enabled: true, tokens: tokensFor(config) } : { enabled: false },
    },
    runtime: {
      kind: config.WORKER_RUNTIME,
      options: { cluster: cluster.cluster, dataDir: config.DATA_DIR, logDir: path.join(config.DATA_DIR, 'logs'), image: config.WORKER_IMAGE },
    },
  };
}
