import type { WorkerInfo } from '../src/dbaas/coordination/worker-registry.ts';
import type { DatabaseServiceHandle } from './database-service.ts';
import { until } from './replicas.ts';

/**
 * The workers as ZooKeeper knows them, once `count` are ready with exactly one master and the
 * worker with pid `without` (a crashed one) is gone.
 */
export function settledWorkers(service: DatabaseServiceHandle, count: number, without?: number): Promise<WorkerInfo[]> {
  return until(
    async () => {
      const all = await service.orchestrator.workers();
      const whole = all.length === count && all.every((worker) => worker.ready) && all.filter((worker) => worker.role === 'master').length === 1;
      return whole && !all.some((worker) => worker.pid === without) ? all : undefined;
    },
    30_000,
    `${count} ready workers with one master`,
  );
}
