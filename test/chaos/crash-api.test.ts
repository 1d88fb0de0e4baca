/**
 * The crash APIs one fault at a time, where the outcome is exact: who dies, who is promoted,
 * what the worker list looks like afterwards, and that the data survives (SPEC §5, §8).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { writeUntilAnswered } from '../../harness/chaos/client.ts';
import { readReplicaFacts, replicaFile } from '../../harness/chaos/replica-facts.ts';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, post } from '../../harness/http.ts';
import { until } from '../../harness/replicas.ts';

const password = 'c'.repeat(40);

describe('crash/master and crash/slave', () => {
  let service: DatabaseServiceHandle;
  const url = (path: string) => `${service.orchestratorUrl}${path}`;

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 2 });
  });
  afterAll(async () => {
    await service?.stop();
  });

  /** 1 master + 2 ready slaves, as ZooKeeper and worker/list both see it. */
  async function wholeCluster(timeoutMs: number): Promise<WorkerInfo[]> {
    return until(
      async () => {
        const workers = await service.orchestrator.workers();
        const listed = await get<number[]>(url('/api/v1/worker/list'));
        const ready = workers.length === 3 && workers.every((worker) => worker.ready) && workers.filter((worker) => worker.role === 'master').length === 1;
        return ready && listed.body.length === 3 ? workers : undefined;
      },
      timeoutMs,
      '1 master and 2 ready slaves',
    );
  }

  it('crash/master kills the master, promotes the lowest-pid slave, and keeps the data', async () => {
    await post(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'before', password } });
    const ride = await post<{ insertId: number; seq: number; epoch: number }>(url('/api/v1/db/write'), {
      op: 'insert',
      table: 'rides',
      values: { created_by: 'before', timestamp: 1_900_000_000, source: 1, destination: 2 },
    });
    expect(ride.status).toBe(200);
    const workers = await wholeCluster(15_000);
    const master = workers.find((worker) => worker.role === 'master')!;
    const lowestSlave = Math.min(...workers.filter((worker) => worker.role === 'slave').map((worker) => worker.pid));

    const crashed = await post<number[]>(url('/api/v1/crash/master'));
    expect(crashed.status).toBe(200);
    expect(crashed.body).toEqual([master.pid]);

    const after = await writeUntilAnswered<{ epoch: number }>(
      service.orchestratorUrl,
      {
        op: 'insert',
        table: 'users',
        values: { username: 'after', password },
        requestId: 'after-crash-master',
      },
      15_000,
    );
    expect(after.status).toBe(200);
    expect(after.body!.epoch).toBeGreaterThan(ride.body.epoch);

    const healed = await wholeCluster(60_000);
    expect(healed.find((worker) => worker.role === 'master')!.pid).toBe(lowestSlave);
    expect(healed.map((worker) => worker.pid)).not.toContain(master.pid);
    const rides = await post<{ rows: { ride_id: number }[] }>(url('/api/v1/db/read'), { table: 'rides', where: { created_by: 'before' }, fresh: true });
    expect(rides.body.rows.map((row) => row.ride_id)).toEqual([ride.body.insertId]);
    const users = await post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'users', count: true, fresh: true });
    expect(users.body.rows).toEqual([{ count: 2 }]);
  });

  it('crash/slave kills the highest-pid slave; within 60 s the list has the same length without it and the new slave has the data', async () => {
    const workers = await wholeCluster(60_000);
    const before = (await get<number[]>(url('/api/v1/worker/list'))).body;
    const highestSlave = Math.max(...workers.filter((worker) => worker.role === 'slave').map((worker) => worker.pid));

    const crashed = await post<number[]>(url('/api/v1/crash/slave'));
    expect(crashed.status).toBe(200);
    expect(crashed.body).toEqual([highestSlave]);

    const started = Date.now();
    const healed = await until(
      async () => {
        const list = (await get<number[]>(url('/api/v1/worker/list'))).body;
        return list.length === before.length && !list.includes(highestSlave) ? list : undefined;
      },
      60_000,
      'a worker list of the same length without the crashed slave',
    );
    console.log(`crash/slave: list whole again after ${Date.now() - started} ms: ${JSON.stringify(before)} → ${JSON.stringify(healed)}`);
    const replacement = (await wholeCluster(60_000)).find((worker) => !before.includes(worker.pid))!;
    expect(replacement.role).toBe('slave');
    const facts = readReplicaFacts(replicaFile(service.dataDir, replacement.workerId), []);
    expect(facts.counts).toMatchObject({ users: 2, rides: 1 });
  });
});

describe('crash/slave with only the master left', () => {
  let service: DatabaseServiceHandle;

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 0 });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('answers 409 CONFLICT, as documented, and kills nothing', async () => {
    const before = await get<number[]>(`${service.orchestratorUrl}/api/v1/worker/list`);
    expect(before.body).toHaveLength(1);
    const crashed = await post<{ error: string; code: string }>(`${service.orchestratorUrl}/api/v1/crash/slave`);
    expect(crashed.status).toBe(409);
    expect(crashed.body.code).toBe('CONFLICT');
    expect(crashed.body.error).toMatch(/slave/i);
    const after = await get<number[]>(`${service.orchestratorUrl}/api/v1/worker/list`);
    expect(after.body).toEqual(before.body);
  });
});
