import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScalingDecision } from '../../src/dbaas/supervisor/Autoscaler.ts';
import { slavesFor } from '../../src/dbaas/supervisor/Autoscaler.ts';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, inParallel, post } from '../../harness/http.ts';
import { staysTrue, until } from '../../harness/replicas.ts';
import { sleep } from '../../src/shared/timeout.ts';

/**
 * Long enough for the slaves a decision asks for to start and serve before the next window's
 * decision, also on a loaded two-core machine (a start took over 3 s there): otherwise an idle
 * window scales back in before the count the test waits for is ever reached.
 */
const WINDOW_MS = 6000;
/** A reader's pace during the scale-in: about 15 reads a window, which keeps the decision at one slave. */
const READ_EVERY_MS = WINDOW_MS / 15;

/**
 * The service of the maximum's test, capped at two slaves: its start overlaps the first service's
 * start (its scaling clock waits for its first db/read, so it idles meanwhile).
 */
let cappedService: Promise<DatabaseServiceHandle> | undefined;
function capped(): Promise<DatabaseServiceHandle> {
  cappedService ??= startDatabaseService({ slaves: 1, scaling: { windowMs: 2000, readsPerSlave: 20, maxSlaves: 2 } });
  return cappedService;
}

describe('the scaling rule', () => {
  it('gives max(1, ceil(reads / readsPerSlave)) slaves, capped at the maximum', () => {
    expect([0, 1, 20, 21, 40, 41, 60, 61].map((reads) => slavesFor(reads, 20, 8))).toEqual([1, 1, 1, 2, 2, 3, 3, 4]);
    expect(slavesFor(10_000, 20, 8)).toBe(8);
    expect(slavesFor(27, 20, 8)).toBe(2);
  });
});

describe('auto-scaling slaves by read load', () => {
  let service: DatabaseServiceHandle;
  const url = (path: string) => `${service.orchestratorUrl}${path}`;
  const scaling = () => get<{ clockStartedAt: string | null; desiredSlaves: number; decisions: ScalingDecision[] }>(url('/api/v1/scaling'));
  const read = () => post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'users' });
  const readySlaves = async () => (await service.orchestrator.workers()).filter((worker) => worker.role === 'slave' && worker.ready);
  const decision = (n: number) => until(async () => (await scaling()).body.decisions[n - 1], WINDOW_MS * 3, `scaling decision ${n}`);
  const slavesServing = (count: number) =>
    until(async () => ((await readySlaves()).length === count && (await service.orchestrator.workers()).length === count + 1 ? true : undefined), 20_000, `${count} slaves`);

  beforeAll(async () => {
    const started = startDatabaseService({ slaves: 1, env: { LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' }, scaling: { windowMs: WINDOW_MS, readsPerSlave: 20, maxSlaves: 8 } });
    // A failed start of the other service is that test's failure, not this one's.
    await Promise.all([started, capped().catch(() => undefined)]);
    service = await started;
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('does not start the clock or scale before the first db/read, whatever else arrives', async () => {
    await inParallel(50, 8, (i) => post(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: `u${i}`, password: 'b'.repeat(40) } }));
    for (let i = 0; i < 10; i += 1) await get(url('/api/v1/worker/list'));
    await post(url('/api/v1/crash/slave'));
    await slavesServing(1);
    await staysTrue(
      async () => {
        const report = (await scaling()).body;
        return report.clockStartedAt === null && report.decisions.length === 0;
      },
      WINDOW_MS + 500,
      'no scaling clock and no decision for longer than a window without a db/read',
    );
  });

  it('counts db/read only: the first window sees exactly the reads sent in it', async () => {
    for (let i = 0; i < 5; i += 1) expect((await read()).status).toBe(200);
    await post(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'not-a-read', password: 'b'.repeat(40) } });
    await get(url('/api/v1/worker/list'));
    const first = await decision(1);
    expect(first.reads).toBe(5);
    expect(first.slavesAfter).toBe(1);
  });

  it('21 reads in a window give a second slave at the window end, not before', async () => {
    await inParallel(21, 4, read);
    expect((await scaling()).body.desiredSlaves).toBe(1);
    expect(await readySlaves()).toHaveLength(1);
    const second = await decision(2);
    expect(second.reads).toBe(21);
    expect(second.slavesBefore).toBe(1);
    expect(second.slavesAfter).toBe(2);
    await slavesServing(2);
  });

  it('an idle window scales back to one slave', async () => {
    const third = await decision(3);
    expect(third.reads).toBe(0);
    expect(third.slavesAfter).toBe(1);
    await slavesServing(1);
  });

  it('41 reads give three slaves, and a scale-in under load loses or fails no read', async () => {
    await inParallel(41, 4, read);
    const fourth = await decision(4);
    expect(fourth.reads).toBe(41);
    expect(fourth.slavesAfter).toBe(3);
    await slavesServing(3);
    const statuses: number[] = [];
    let reading = true;
    const reader = (async () => {
      while (reading) {
        statuses.push((await read()).status);
        await sleep(READ_EVERY_MS);
      }
    })();
    const fifth = await decision(5);
    expect(fifth.slavesAfter).toBe(1);
    await slavesServing(1);
    await staysTrue(() => statuses.every((status) => status === 200), 1000, 'every read answered 200 after the scale-in');
    reading = false;
    await reader;
    expect(statuses.length).toBeGreaterThan(5);
    expect(statuses.every((status) => status === 200)).toBe(true);
    const pids = (await readySlaves()).map((worker) => worker.pid);
    expect(pids).toHaveLength(1);
  });
});

describe('the maximum number of slaves', () => {
  let service: DatabaseServiceHandle;

  beforeAll(async () => {
    service = await capped();
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('holds however many reads arrive, and the decision says it capped', async () => {
    await inParallel(200, 16, () => post(`${service.orchestratorUrl}/api/v1/db/read`, { table: 'users' }));
    const first = await until(async () => (await get<{ decisions: ScalingDecision[] }>(`${service.orchestratorUrl}/api/v1/scaling`)).body.decisions[0], 6000, 'a decision');
    expect(first.reads).toBe(200);
    expect(first.slavesAfter).toBe(2);
    expect(first.reason).toMatch(/capped at MAX_SLAVES=2/);
  });
});
