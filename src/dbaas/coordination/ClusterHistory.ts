/**
 * The last supervision events of a cluster (failovers, worker starts and exits, scaling
 * decisions, slave counts set by an operator), kept in one persistent znode so that every
 * orchestrator, a standby or the next supervisor, shows the same history. Only the supervising
 * orchestrator appends, one append at a time; the list is capped, so the node stays far below
 * ZooKeeper's 1 MB limit.
 */
import { z } from 'zod';
import { clusterPaths } from '../protocol/names.ts';
import type { ZkClient } from './ZkClient.ts';

export const HISTORY_LIMIT = 200;

export type ExitReason = 'crash-api' | 'crashed' | 'session-lost' | 'failed-promotion' | 'not-ready' | 'stale' | 'retired' | 'restart-from-files';
export type StartReason = 'initial' | 'replacement' | 'scale-out' | 'restart-from-files';

export type ClusterEvent = { at: string } & (
  | { kind: 'supervision'; orchestratorId: string; takeover: boolean }
  | { kind: 'worker-started'; workerId: string; pid: number; role: 'master' | 'slave'; reason: StartReason }
  | { kind: 'worker-exited'; workerId: string; pid: number; reason: ExitReason; code: number | null; signal: string | null }
  | { kind: 'failover'; workerId: string; pid: number; epoch: number; durationMs: number; reason: string }
  | { kind: 'scaling'; reads: number; slavesBefore: number; slavesAfter: number; reason: string }
  /** An operator set the desired slaves (PUT /api/v1/scaling/slaves). */
  | { kind: 'slaves-set'; slavesBefore: number; slavesAfter: number; orchestratorId: string }
);

export type ClusterEventKind = ClusterEvent['kind'];

/** Distributes an event type over the union, so `{ kind: 'failover', ... }` without `at` type-checks. */
export type NewClusterEvent = ClusterEvent extends infer E ? (E extends ClusterEvent ? Omit<E, 'at'> : never) : never;

/**
 * The history is only shown, never acted on: each entry needs a time and a kind, and entries of
 * kinds a newer version adds pass through (the ClusterEvent type is what this version writes).
 */
const historyRecord = z.array(z.looseObject({ at: z.string(), kind: z.string() })) as unknown as z.ZodType<ClusterEvent[]>;

export class ClusterHistory {
  private readonly path: string;
  private appends: Promise<void> = Promise.resolve();

  constructor(
    private readonly zk: ZkClient,
    cluster: string,
  ) {
    this.path = clusterPaths(cluster).history;
  }

  async read(): Promise<ClusterEvent[]> {
    return (await this.zk.readNodeIfExists(this.path, historyRecord))?.data ?? [];
  }

  /** Appends after the previous append; resolves once written (or failed: history is best effort). */
  append(event: ClusterEvent): Promise<void> {
    this.appends = this.appends.then(async () => {
      const events = [...(await this.read()), event].slice(-HISTORY_LIMIT);
      await this.zk.ensurePath(this.path);
      await this.zk.setData(this.path, events);
    });
    const appended = this.appends;
    this.appends = this.appends.catch(() => undefined);
    return appended;
  }
}
