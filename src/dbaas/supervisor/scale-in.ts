/**
 * Which slaves go when the cluster scales in: the newest, drained. SPEC.md says "the highest
 * pids", which is the newest as long as pids only grow; on a machine whose pids wrapped (the limit
 * is often 32768) a new worker can get a lower pid than an old one, and the newest is still what
 * "the slave started last goes first" means. A registration without a start time (an older
 * worker's) counts as older than any that has one; pids break ties.
 */
import type { WorkerInfo } from '../coordination/worker-registry.ts';

export function scaleInVictims(slaves: readonly WorkerInfo[], count: number): WorkerInfo[] {
  if (count <= 0) return [];
  return [...slaves].sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0) || b.pid - a.pid).slice(0, count);
}
