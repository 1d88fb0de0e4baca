/**
 * Prometheus metrics (prom-client). Each HTTP server has a registry of its own, with the
 * process's default metrics and the HTTP request metrics (src/shared/http/observability.ts);
 * a server adds its own (the orchestrator: RPCs, replication, supervision) to the same registry.
 * Registries, not prom-client's global one: tests run several servers in one process.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Latencies from a cached read (~1 ms) to an RPC timeout (5 s), in seconds. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createRegistry(processName: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ process: processName });
  collectDefaultMetrics({ register: registry, prefix: 'rideshare_' });
  return registry;
}
