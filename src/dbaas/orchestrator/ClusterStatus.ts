/**
 * The cluster as an operator sees it (GET /api/v1/cluster, the console, readiness): every worker
 * with its position and lag behind the master, the orchestrators, desired and actual slaves, and
 * the recent supervision history. Built from ZooKeeper alone, so every orchestrator, supervising
 * or standing by, gives the same picture.
 */
import type { ClusterEvent, ClusterHistory } from '../coordination/ClusterHistory.ts';
import type { DesiredSlaves } from '../coordination/DesiredSlaves.ts';
import { listOrchestrators } from '../coordination/orchestrator-registry.ts';
import { totalReads } from '../coordination/read-counts.ts';
import type { SupervisorRecord } from '../coordination/SupervisorLease.ts';
import { protocolOf } from '../protocol/worker-protocol.ts';
import { listWorkers } from '../coordination/worker-registry.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import type { ScalingReport } from '../supervisor/Leadership.ts';

/** How many of the latest events the status carries (the history keeps more). */
const EVENTS_SHOWN = 50;

export interface WorkerStatus {
  workerId: string;
  pid: number;
  role: 'master' | 'slave';
  /** `joining`: a slave still copying or catching up; it serves no reads yet. */
  state: 'serving' | 'joining';
  ready: boolean;
  epoch: number;
  appliedSeq: number;
  /** Seqs behind the master, as both last published them (every half second); null without a master. */
  lag: number | null;
  runtime: 'process' | 'docker';
  startedAt: string | null;
  /** The protocol version it speaks (3 for workers that did not record it): a rolling upgrade's progress. */
  protocol: number;
}

export interface OrchestratorStatus {
  orchestratorId: string;
  pid: number;
  url: string;
  startedAt: string;
  supervising: boolean;
  /** The orchestrator that answered this request. */
  self: boolean;
}

export interface ClusterStatus {
  cluster: string;
  at: string;
  master: { workerId: string; pid: number; epoch: number; appliedSeq: number } | null;
  workers: WorkerStatus[];
  supervisor: SupervisorRecord | null;
  orchestrators: OrchestratorStatus[];
  slaves: { desired: number; ready: number; joining: number };
  scaling: ScalingReport;
  /**
   * db/read requests counted by every orchestrator since the cluster was made (each publishes its
   * total every 200 ms): two statuses give the read rate between them.
   */
  reads: { total: number };
  events: ClusterEvent[];
}

export interface ClusterStatusSources {
  zk: ZkClient;
  cluster: string;
  orchestratorId: string;
  runtime: 'process' | 'docker';
  initialSlaves: number;
  desired: DesiredSlaves;
  history: ClusterHistory;
  supervisor(): Promise<SupervisorRecord | undefined>;
  scaling(): Promise<ScalingReport>;
}

export async function readClusterStatus(sources: ClusterStatusSources): Promise<ClusterStatus> {
  const [registered, supervisor, orchestrators, desired, scaling, readsSoFar, events] = await Promise.all([
    listWorkers(sources.zk, sources.cluster),
    sources.supervisor(),
    listOrchestrators(sources.zk, sources.cluster),
    sources.desired.get(sources.initialSlaves),
    sources.scaling(),
    totalReads(sources.zk, sources.cluster),
    sources.history.read(),
  ]);
  const master = registered.find((worker) => worker.role === 'master' && worker.ready);
  const workers = registered
    .map<WorkerStatus>((worker) => ({
      workerId: worker.workerId,
      pid: worker.pid,
      role: worker.role,
      state: worker.ready ? 'serving' : 'joining',
      ready: worker.ready,
      epoch: worker.epoch,
      appliedSeq: worker.appliedSeq,
      lag: master ? Math.max(0, master.appliedSeq - worker.appliedSeq) : null,
      runtime: sources.runtime,
      startedAt: worker.startedAt === undefined ? null : new Date(worker.startedAt).toISOString(),
      protocol: protocolOf(worker),
    }))
    .sort((a, b) => (a.role === b.role ? a.pid - b.pid : a.role === 'master' ? -1 : 1));
  const slaves = workers.filter((worker) => worker.role === 'slave');
  return {
    cluster: sources.cluster,
    at: new Date().toISOString(),
    master: master ? { workerId: master.workerId, pid: master.pid, epoch: master.epoch, appliedSeq: master.appliedSeq } : null,
    workers,
    supervisor: supervisor ?? null,
    orchestrators: orchestrators
      .map((record) => ({
        ...record,
        startedAt: new Date(record.startedAt).toISOString(),
        supervising: record.orchestratorId === supervisor?.orchestratorId,
        self: record.orchestratorId === sources.orchestratorId,
      }))
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt)),
    slaves: { desired, ready: slaves.filter((worker) => worker.ready).length, joining: slaves.filter((worker) => !worker.ready).length },
    scaling,
    reads: { total: readsSoFar },
    events: events.slice(-EVENTS_SHOWN),
  };
}
