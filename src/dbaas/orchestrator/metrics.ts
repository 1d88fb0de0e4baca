/**
 * The orchestrator's own Prometheus metrics, beside the HTTP ones every server has: RPC latency
 * and outcomes, the workers' applied seq and lag (read from ZooKeeper at each scrape), readQ and
 * writeQ depths (asked of the broker at each scrape), and what supervision did (counted from the
 * supervision journal, so only by the supervising orchestrator).
 */
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../shared/metrics.ts';
import type { ClusterEvent } from '../coordination/ClusterHistory.ts';
import type { WorkerInfo } from '../coordination/worker-registry.ts';
import type { RpcOutcome } from './RpcClient.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

const SCRAPE_SHARE_MS = 250;

/** Calls within `ms` of each other share one answer. */
function sharedFor<T>(ms: number, fetch: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = monotonicNow();
    if (!last || now - last.at > ms) last = { at: now, value: fetch() };
    return last.value;
  };
}

export interface OrchestratorMetricSources {
  registry: Registry;
  workers(): Promise<WorkerInfo[]>;
  queueDepth(queue: 'readQ' | 'writeQ' | 'refusedQ'): Promise<number | undefined>;
}

export class OrchestratorMetrics {
  private readonly rpcDuration: Histogram<'kind' | 'outcome'>;
  private readonly rpcTimeouts: Counter<'kind'>;
  private readonly failovers: Counter;
  private readonly workerStarts: Counter<'role' | 'reason'>;
  private readonly workerExits: Counter<'reason'>;
  private readonly scalingDecisions: Counter<'direction'>;

  constructor(sources: OrchestratorMetricSources) {
    const registers = [sources.registry];
    this.rpcDuration = new Histogram({
      name: 'rideshare_rpc_duration_seconds',
      help: 'Time from publishing a command on readQ/writeQ to its answer, by command kind and outcome',
      labelNames: ['kind', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.rpcTimeouts = new Counter({ name: 'rideshare_rpc_timeouts_total', help: 'Commands no worker answered in time', labelNames: ['kind'], registers });
    this.failovers = new Counter({ name: 'rideshare_failovers_total', help: 'Masters replaced by this orchestrator while it supervised', registers });
    this.workerStarts = new Counter({ name: 'rideshare_worker_starts_total', help: 'Workers started, by role and reason', labelNames: ['role', 'reason'], registers });
    this.workerExits = new Counter({ name: 'rideshare_worker_exits_total', help: 'Worker exits, by reason', labelNames: ['reason'], registers });
    this.scalingDecisions = new Counter({
      name: 'rideshare_scaling_decisions_total',
      help: 'Autoscaler decisions that changed the number of slaves: out or in',
      labelNames: ['direction'],
      registers,
    });

    // One ZooKeeper read serves the three worker gauges of a scrape (prom-client collects them concurrently).
    const workersNow = sharedFor(SCRAPE_SHARE_MS, () => sources.workers());
    const workerLabels = ['worker', 'role'] as const;
    new Gauge({
      name: 'rideshare_worker_applied_seq',
      help: 'The last write each worker has applied',
      labelNames: workerLabels,
      registers,
      async collect() {
        const workers = await workersNow();
        this.reset();
        for (const worker of workers) this.set({ worker: worker.workerId, role: worker.role }, worker.appliedSeq);
      },
    });
    new Gauge({
      name: 'rideshare_worker_lag_seqs',
      help: 'How many writes each worker is behind the master (as both last published their position)',
      labelNames: workerLabels,
      registers,
      async collect() {
        const workers = await workersNow();
        const master = workers.find((worker) => worker.role === 'master' && worker.ready);
        this.reset();
        if (!master) return;
        for (const worker of workers) this.set({ worker: worker.workerId, role: worker.role }, Math.max(0, master.appliedSeq - worker.appliedSeq));
      },
    });
    new Gauge({
      name: 'rideshare_workers',
      help: 'Registered workers, by role and readiness',
      labelNames: ['role', 'ready'],
      registers,
      async collect() {
        const workers = await workersNow();
        this.reset();
        for (const worker of workers) this.inc({ role: worker.role, ready: String(worker.ready) });
      },
    });
    new Gauge({
      name: 'rideshare_queue_messages',
      help: 'Messages waiting in readQ and writeQ, and refused messages kept (refusedQ)',
      labelNames: ['queue'],
      registers,
      async collect() {
        for (const queue of ['readQ', 'writeQ', 'refusedQ'] as const) {
          const depth = await sources.queueDepth(queue).catch(() => undefined);
          if (depth !== undefined) this.set({ queue }, depth);
        }
      },
    });
  }

  /** rpcDuration's child per kind and outcome, looked up once: every command passes here. */
  private readonly rpcDurationChildren = new Map<string, { observe(seconds: number): void }>();

  observeRpc(kind: string, seconds: number, outcome: RpcOutcome): void {
    const key = `${kind} ${outcome}`;
    let child = this.rpcDurationChildren.get(key);
    if (child === undefined) {
      child = this.rpcDuration.labels({ kind, outcome });
      this.rpcDurationChildren.set(key, child);
    }
    child.observe(seconds);
    if (outcome === 'timeout') this.rpcTimeouts.inc({ kind });
  }

  count(event: ClusterEvent): void {
    switch (event.kind) {
      case 'failover':
        this.failovers.inc();
        break;
      case 'worker-started':
        this.workerStarts.inc({ role: event.role, reason: event.reason });
        break;
      case 'worker-exited':
        this.workerExits.inc({ reason: event.reason });
        break;
      case 'scaling':
        this.scalingDecisions.inc({ direction: event.slavesAfter > event.slavesBefore ? 'out' : 'in' });
        break;
      case 'supervision':
        break;
    }
  }
}
