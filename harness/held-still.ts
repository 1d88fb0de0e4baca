/**
 * A figure that is published now and then (a read total, a counter in ZooKeeper) has caught up
 * once it holds still for longer than the publishing period: the value it settles at.
 */
import { sleep } from '../src/shared/timeout.ts';
import { until } from './replicas.ts';

export function heldStill(read: () => Promise<number>, periodMs: number, timeoutMs: number, what: string): Promise<number> {
  return until(
    async () => {
      const now = await read();
      await sleep(periodMs);
      return (await read()) === now ? now : undefined;
    },
    timeoutMs,
    what,
  );
}
