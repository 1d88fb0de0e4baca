/** Scaling in retires the newest slaves, also on a machine whose pids wrapped. */
import { describe, expect, it } from 'vitest';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { scaleInVictims } from '../../src/dbaas/supervisor/scale-in.ts';

const slave = (workerId: string, pid: number, startedAt?: number): WorkerInfo => ({
  workerId,
  pid,
  role: 'slave',
  ready: true,
  appliedSeq: 0,
  epoch: 1,
  ...(startedAt === undefined ? {} : { startedAt }),
});

describe('scale-in victims', () => {
  it('are the newest slaves, whatever their pids (pids wrapped past the limit)', () => {
    const old = slave('old', 32_000, 1_000);
    const wrapped = slave('newest', 310, 3_000);
    const middle = slave('middle', 32_500, 2_000);
    expect(scaleInVictims([old, wrapped, middle], 1).map((worker) => worker.workerId)).toEqual(['newest']);
    expect(scaleInVictims([old, wrapped, middle], 2).map((worker) => worker.workerId)).toEqual(['newest', 'middle']);
  });

  it('take the highest pids among workers that do not say when they started, after those that do', () => {
    expect(scaleInVictims([slave('a', 500), slave('b', 700), slave('c', 100, 5)], 2).map((worker) => worker.workerId)).toEqual(['c', 'b']);
    expect(scaleInVictims([slave('a', 500)], 0)).toEqual([]);
  });
});
