import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { post } from '../../harness/http.ts';
import { until } from '../../harness/replicas.ts';
import { settledWorkers } from '../../harness/workers.ts';

// crash/master and crash/slave themselves: test/chaos/crash-api.test.ts. Here: faults from outside.
describe('faults from outside the orchestrator', () => {
  let service: DatabaseServiceHandle;
  const url = (path: string) => `${service.orchestratorUrl}${path}`;
  const password = '0'.repeat(40);

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 2, env: { LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' } });
  });
  afterAll(async () => {
    await service?.stop();
  });

  const workers = () => service.orchestrator.workers();
  const settled = (count: number, without?: number) => settledWorkers(service, count, without);

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
});
