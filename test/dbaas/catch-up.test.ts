import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { inParallel, post } from '../../harness/http.ts';

describe('a slave started late', () => {
  let service: DatabaseServiceHandle;
  const url = (path: string) => `${service.orchestratorUrl}${path}`;

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1 });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('catches up from a snapshot plus the log after 10,000 writes, then answers reads', async () => {
    await post(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'driver', password: 'f'.repeat(40) } });
    const writes = await inParallel(10_000, 64, (i) =>
      post<{ seq: number }>(url('/api/v1/db/write'), {
        op: 'insert',
        table: 'rides',
        values: { created_by: 'driver', timestamp: 1_900_000_000 + i, source: 1 + (i % 198), destination: 1 + ((i + 1) % 198) },
      }),
    );
    expect(writes.every((write) => write.status === 200)).toBe(true);

    // Writes keep arriving while the new slave copies and catches up.
    let writing = true;
    const background = (async () => {
      let n = 0;
      while (writing) {
        await post(url('/api/v1/db/write'), {
          op: 'insert',
          table: 'rides',
          values: { created_by: 'driver', timestamp: 1_800_000_000 + n, source: 500, destination: 501 },
        });
        n += 1;
      }
      return n;
    })();
    const supervisor = service.orchestrator.supervisor!;
    const [original] = await service.orchestrator.workers().then((workers) => workers.filter((worker) => worker.role === 'slave'));
    const late = await supervisor.startWorker('slave');
    writing = false;
    const extra = await background;

    // Only the late slave is left to answer reads.
    await service.runtime.kill(original!.workerId);
    const count = await post<{ rows: { count: number }[]; seq: number }>(url('/api/v1/db/read'), { table: 'rides', count: true, fresh: true });
    expect(count.status).toBe(200);
    expect(count.body.rows[0]!.count).toBe(10_000 + extra);
    const listed = await post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'rides', where: { source: 500, destination: 501 }, fresh: true });
    expect(listed.body.rows).toHaveLength(extra);
    expect((await service.orchestrator.workers()).map((worker) => worker.pid)).toContain(late.pid);
  });
});
