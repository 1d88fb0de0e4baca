import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../helpers/database-service.ts';
import { get, post } from '../helpers/http.ts';
import { until } from '../helpers/replicas.ts';
import { settledWorkers } from '../helpers/workers.ts';

describe('failover and replacement', () => {
  let service: DatabaseServiceHandle;
  const url = (path: string) => `${service.orchestratorUrl}${path}`;
  const password = '0'.repeat(40);

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 2, env: { LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' } });
  });
  afterAll(async () => {
    await service?.stop();
  });

  const workers = () => service.orchestrator.supervisor.workers();
  const settled = (count: number, without?: number) => settledWorkers(service, count, without);


  it('crash/slave kills the slave with the highest pid and a replacement serves the data', async () => {
    const write = await post<{ seq: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'before-crash', password } });
    const before = await settled(3);
    const highest = Math.max(...before.filter((worker) => worker.role === 'slave').map((worker) => worker.pid));
    const crash = await post<number[]>(url('/api/v1/crash/slave'));
    expect(crash.status).toBe(200);
    expect(crash.body).toEqual([highest]);
    expect((await get<number[]>(url('/api/v1/worker/list'))).body).not.toContain(highest);
    const after = await settled(3, highest);
    expect(after.map((worker) => worker.pid)).not.toContain(highest);
    const list = await get<number[]>(url('/api/v1/worker/list'));
    expect(list.body).toHaveLength(3);
    const read = await post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'users', minSeq: write.body.seq });
    expect(read.body.rows).toEqual([{ username: 'before-crash', password }]);
  });

  it('crash/master promotes the ready slave with the lowest pid, which takes writes under a new epoch', async () => {
    const before = await settled(3);
    const master = before.find((worker) => worker.role === 'master')!;
    const lowestSlave = before.filter((worker) => worker.role === 'slave').sort((a, b) => a.pid - b.pid)[0]!;
    const crash = await post<number[]>(url('/api/v1/crash/master'));
    expect(crash.body).toEqual([master.pid]);
    const started = Date.now();
    let write;
    do {
      write = await post<{ seq: number; epoch: number }>(url('/api/v1/db/write'), {
        op: 'insert',
        table: 'users',
        values: { username: 'after-crash', password },
        requestId: 'after-crash',
      });
    } while (write.status === 503 && Date.now() - started < 20_000);
    expect(write.status).toBe(200);
    expect(write.body.epoch).toBeGreaterThan(master.epoch);
    const after = await settled(3);
    const newMaster = after.find((worker) => worker.role === 'master')!;
    expect(newMaster.workerId).toBe(lowestSlave.workerId);
    expect(after.map((worker) => worker.pid)).not.toContain(master.pid);
    const read = await post<{ rows: { username: string }[] }>(url('/api/v1/db/read'), { table: 'users', minSeq: write.body.seq });
    expect(read.body.rows.map((row) => row.username).sort()).toEqual(['after-crash', 'before-crash']);
  });

  it('an outside SIGKILL of a slave is noticed at once and the slave replaced', async () => {
    const before = await settled(3);
    const victim = before.find((worker) => worker.role === 'slave')!;
    process.kill(victim.pid, 'SIGKILL');
    const after = await settled(3, victim.pid);
    expect(after.map((worker) => worker.pid)).not.toContain(victim.pid);
  });

  it('a master frozen longer than its session is killed and replaced', async () => {
    const before = await settled(3);
    const master = before.find((worker) => worker.role === 'master')!;
    process.kill(master.pid, 'SIGSTOP');
    try {
      const after = await until(
        async () => {
          const all = await workers();
          const current = all.find((worker) => worker.role === 'master' && worker.ready);
          return current && current.workerId !== master.workerId ? all : undefined;
        },
        30_000,
        'a new master',
      );
      expect(after.map((worker) => worker.pid)).not.toContain(master.pid);
    } finally {
      try {
        process.kill(master.pid, 'SIGCONT');
      } catch {
        // Already killed by the supervisor, as it should be.
      }
    }
    const write = await post<{ seq: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'after-freeze', password } });
    expect(write.status).toBe(200);
    await settled(3);
  });

  it('crash/slave with only the master left is a 409, not a crashed master', async () => {
    await service.orchestrator.supervisor.setDesiredSlaves(0);
    while ((await workers()).some((worker) => worker.role === 'slave')) await post(url('/api/v1/crash/slave'));
    const crash = await post<{ code: string; error: string }>(url('/api/v1/crash/slave'));
    expect(crash.status).toBe(409);
    expect(crash.body.error).toMatch(/only the master/);
    expect((await workers()).filter((worker) => worker.role === 'master')).toHaveLength(1);
  });
});
