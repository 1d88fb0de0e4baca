import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/shared/logger.ts';
import { freePort } from '../../src/shared/ports.ts';
import { isAlive } from '../../src/shared/processes.ts';
import { DEFAULT_RESTART_POLICY, KeptService, nextRestartDelay } from '../../src/system/KeptService.ts';
import { until } from '../../harness/replicas.ts';

describe('the restart back-off', () => {
  const policy = DEFAULT_RESTART_POLICY;

  it('starts at 0.5 s and doubles up to 10 s while runs stay short', () => {
    const delays: number[] = [];
    let delay: number | undefined;
    for (let i = 0; i < 8; i++) {
      delay = nextRestartDelay(policy, delay, 1000);
      delays.push(delay);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });

  it('goes back to 0.5 s after a run of 30 s', () => {
    expect(nextRestartDelay(policy, 10_000, 29_999)).toBe(10_000);
    expect(nextRestartDelay(policy, 10_000, 30_000)).toBe(500);
  });
});

describe('KeptService', () => {
  let service: KeptService | undefined;

  afterEach(async () => {
    await service?.kill();
  });

  it('starts a service that exits again and again, until it is stopped', async () => {
    const port = await freePort();
    service = new KeptService({
      name: 'flaky',
      entry: 'test/system/fixtures/flaky-service.ts',
      port,
      env: { FLAKY_PORT: String(port), FLAKY_LIFE_MS: '200' },
      logger: createLogger('kept-service-test', 'silent'),
      restart: { initialDelayMs: 50, maxDelayMs: 200, resetAfterMs: 60_000 },
    });
    await service.start();
    await until(() => (service!.restartCount >= 2 ? true : undefined), 20_000, 'two restarts');
    await service.stop(1000);
    const count = service.restartCount;
    const last = service.pid;
    // A restart would be a timer of this process due within the policy's longest delay (200 ms);
    // timers fire in the order they fall due, so one set for later proves none was pending.
    await new Promise((resolve) => setTimeout(resolve, 201));
    expect(service.restartCount).toBe(count);
    expect(last === undefined || !isAlive(last)).toBe(true);
  });

  it('a service that cannot start makes start() fail, and is not restarted', async () => {
    const port = await freePort();
    service = new KeptService({
      name: 'broken',
      entry: 'test/system/fixtures/flaky-service.ts',
      port,
      env: { FLAKY_PORT: String(port), FLAKY_LIFE_MS: '0' },
      logger: createLogger('kept-service-test', 'silent'),
      restart: { initialDelayMs: 50 },
    });
    await expect(service.start()).rejects.toThrow(/exited during start-up/);
    // As above: a restart would be this process's timer, due after the first delay (50 ms).
    await new Promise((resolve) => setTimeout(resolve, 51));
    expect(service.restartCount).toBe(0);
  });
});
