import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { post } from '../../harness/http.ts';
import { settledWorkers } from '../../harness/workers.ts';

const HEDGE_MS = Number(process.env.TEST_READ_HEDGE_MS ?? 500);

// A replica that stops answering with reads in hand (frozen here; on another host, lost with it)
// keeps them until the broker learns it is gone. The orchestrator sends such a read once more
// after READ_HEDGE_MS, and another replica answers it.
describe('reads taken by a replica that stops answering', () => {
  let service: DatabaseServiceHandle;

  beforeAll(async () => {
    // A 4 s session, as in production: the frozen slave holds its reads that long before it is killed.
    service = await startDatabaseService({ slaves: 2, env: { ZK_SESSION_TIMEOUT_MS: '4000', READ_HEDGE_MS: String(HEDGE_MS) } });
    const write = await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'hedge-reader', password: '0'.repeat(40) } });
    expect(write.status).toBe(200);
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('are answered by another replica soon after READ_HEDGE_MS, all of them, with the rows written', async () => {
    const workers = await settledWorkers(service, 3);
    const frozen = workers.find((worker) => worker.role === 'slave')!;
    process.kill(frozen.pid, 'SIGSTOP');
    try {
      // One at a time, so that the slaves' turns on readQ alternate and the frozen one takes some.
      const took: number[] = [];
      for (let index = 0; index < 12; index += 1) {
        const started = performance.now();
        const read = await post<{ rows: { username: string }[] }>(`${service.orchestratorUrl}/api/v1/db/read`, { table: 'users', where: { username: 'hedge-reader' } });
        took.push(performance.now() - started);
        expect(read.status).toBe(200);
        expect(read.body.rows.map((row) => row.username)).toEqual(['hedge-reader']);
      }
      // Some reads went to the frozen slave and waited for the hedge; none waited for its kill (4 s on).
      expect(Math.max(...took)).toBeGreaterThanOrEqual(HEDGE_MS);
      expect(Math.max(...took)).toBeLessThan(HEDGE_MS + 2500);
    } finally {
      try {
        process.kill(frozen.pid, 'SIGCONT');
      } catch {
        // Killed by the supervisor meanwhile, as a frozen worker should be.
      }
    }
  });
});
