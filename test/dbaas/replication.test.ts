import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, inParallel, post } from '../../harness/http.ts';
import Database from 'better-sqlite3';
import { readLiveReplicas, until } from '../../harness/replicas.ts';
import { workerDbFile, workersDirOf } from '../../src/dbaas/worker/files.ts';

const password = 'ab'.repeat(20);

describe('replication between master and slaves', () => {
  let service: DatabaseServiceHandle;
  const url = (path: string) => `${service.orchestratorUrl}${path}`;

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 2 });
  });
  afterAll(async () => {
    await service?.stop();
  });

  async function liveWorkerIds(): Promise<string[]> {
    return (await service.orchestrator.workers()).map((worker) => worker.workerId);
  }

  /** Every replica has applied `seq`: their files can be compared. */
  async function replicasAt(seq: number) {
    return until(
      async () => {
        const replicas = readLiveReplicas(service.dataDir, await liveWorkerIds());
        return replicas.length >= 2 && replicas.every((replica) => replica.appliedSeq >= seq) ? replicas : undefined;
      },
      15_000,
      `every replica at seq ${seq}`,
    );
  }

  it('starts one master and the asked-for slaves, listed by ascending pid', async () => {
    const list = await get<number[]>(url('/api/v1/worker/list'));
    expect(list.status).toBe(200);
    expect(list.body).toHaveLength(3);
    expect([...list.body].sort((a, b) => a - b)).toEqual(list.body);
    const roles = (await service.orchestrator.workers()).map((worker) => worker.role).sort();
    expect(roles).toEqual(['master', 'slave', 'slave']);
  });

  it('a write committed by the master is read back from a slave', async () => {
    const write = await post<{ seq: number; changes: number }>(url('/api/v1/db/write'), {
      op: 'insert',
      table: 'users',
      values: { username: 'alice', password },
    });
    expect(write.status).toBe(200);
    expect(write.body.changes).toBe(1);
    const read = await post<{ rows: unknown[]; seq: number }>(url('/api/v1/db/read'), { table: 'users', where: { username: 'alice' }, minSeq: write.body.seq });
    expect(read.status).toBe(200);
    expect(read.body.rows).toEqual([{ username: 'alice', password }]);
    expect(read.body.seq).toBeGreaterThanOrEqual(write.body.seq);
  });

  it('1,000 concurrent writes are applied in the same order on every replica', async () => {
    const results = await inParallel(1000, 64, (i) =>
      post<{ seq: number }>(url('/api/v1/db/write'), {
        op: 'insert',
        table: 'users',
        values: { username: `concurrent-${i}`, password },
        requestId: `order-${i}`,
      }),
    );
    expect(results.every((result) => result.status === 200)).toBe(true);
    const seqs = new Set(results.map((result) => result.body.seq));
    expect(seqs.size).toBe(1000);
    const replicas = await replicasAt(Math.max(...seqs));
    expect(replicas).toHaveLength(3);
    const [first, ...others] = replicas;
    for (const replica of others) {
      expect(replica.checksum).toBe(first!.checksum);
      for (let i = 0; i < 1000; i += 1) expect(replica.order.get(`order-${i}`)).toBe(first!.order.get(`order-${i}`));
    }
    for (let i = 0; i < 1000; i += 1) expect(first!.order.get(`order-${i}`)).toBe(results[i]!.body.seq);
  });

  it('a retried write with the same request id is answered with its first result, not applied twice', async () => {
    const body = { op: 'insert', table: 'rides', values: { created_by: 'alice', timestamp: 1_900_000_000, source: 1, destination: 2 }, requestId: 'retry-me' };
    const first = await post<{ seq: number; insertId: number }>(url('/api/v1/db/write'), body);
    const second = await post<{ seq: number; insertId: number }>(url('/api/v1/db/write'), body);
    expect(first.status).toBe(200);
    expect(second.body).toEqual(first.body);
    const count = await post<{ rows: { count: number }[] }>(url('/api/v1/db/read'), { table: 'rides', count: true, minSeq: first.body.seq });
    expect(count.body.rows[0]!.count).toBe(1);
  });

  it('db/clear empties every replica and ids are not reused afterwards', async () => {
    const before = await post<{ insertId: number }>(url('/api/v1/db/write'), {
      op: 'insert',
      table: 'rides',
      values: { created_by: 'alice', timestamp: 1_900_000_000, source: 3, destination: 4 },
    });
    const cleared = await post(url('/api/v1/db/clear'));
    expect(cleared.status).toBe(200);
    expect(cleared.body).toEqual({});
    const probe = await post<{ seq: number }>(url('/api/v1/db/write'), { op: 'delete', table: 'users', where: { username: 'nobody' } });
    const replicas = await replicasAt(probe.body.seq);
    for (const replica of replicas) expect(replica.counts).toEqual({ users: 0, rides: 0, ride_members: 0 });
    await post(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'bob', password } });
    const after = await post<{ insertId: number }>(url('/api/v1/db/write'), {
      op: 'insert',
      table: 'rides',
      values: { created_by: 'bob', timestamp: 1_900_000_000, source: 3, destination: 4 },
    });
    expect(after.body.insertId).toBeGreaterThan(before.body.insertId);
  });

  it('deleting a user removes their rides and seats on every replica', async () => {
    const write = async (body: object) => {
      const answer = await post<{ insertId?: number; seq: number }>(url('/api/v1/db/write'), body);
      expect(answer.status, JSON.stringify(body)).toBe(200);
      return answer.body;
    };
    await write({ op: 'insert', table: 'users', values: { username: 'carol', password } });
    await write({ op: 'insert', table: 'users', values: { username: 'dave', password } });
    const ride = await write({ op: 'insert', table: 'rides', values: { created_by: 'bob', timestamp: 1_900_000_000, source: 5, destination: 6 } });
    const kept = await write({ op: 'insert', table: 'rides', values: { created_by: 'dave', timestamp: 1_900_000_000, source: 5, destination: 6 } });
    await write({ op: 'insert', table: 'ride_members', values: { ride_id: ride.insertId, username: 'carol' } });
    const seatOfBob = await write({ op: 'insert', table: 'ride_members', values: { ride_id: kept.insertId, username: 'bob' } });
    // Before the delete, every replica has bob's ride and both seats: the cascade has something to remove.
    const fileOf = (workerId: string) => workerDbFile(workersDirOf(service.dataDir), workerId);
    const before = await replicasAt(seatOfBob.seq);
    for (const replica of before) {
      const held = ridesAndSeatsOf(fileOf(replica.workerId), ride.insertId as number);
      expect(held.bobRides, replica.workerId).toBeGreaterThanOrEqual(1);
      expect(held, replica.workerId).toMatchObject({ bobSeats: 1, seatsOnBobRide: 1, keptRides: 1 });
    }
    const removed = await write({ op: 'delete', table: 'users', where: { username: 'bob' } });
    const after = await replicasAt(removed.seq);
    expect(after).toHaveLength(3);
    for (const replica of after) expect(ridesAndSeatsOf(fileOf(replica.workerId), ride.insertId as number), replica.workerId).toEqual({ bobRides: 0, bobSeats: 0, seatsOnBobRide: 0, keptRides: 1 });
  });

  it('lists workers from ZooKeeper with pid, role, ready flag and applied seq', async () => {
    const workers = await until(
      async () => {
        const all = await service.orchestrator.workers();
        return all.length === 3 && all.every((worker) => worker.ready) ? all : undefined;
      },
      5000,
      'three ready workers',
    );
    for (const worker of workers) {
      expect(worker.pid).toBeGreaterThan(0);
      expect(worker.appliedSeq).toBeGreaterThanOrEqual(0);
    }
  });
});

/** Bob's rides and seats, the seats on his ride, and dave's rides, as one replica's file holds them. */
function ridesAndSeatsOf(file: string, bobRide: number): { bobRides: number; bobSeats: number; seatsOnBobRide: number; keptRides: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const count = (sql: string, ...params: unknown[]) => (db.prepare(sql).get(...params) as { n: number }).n;
    return {
      bobRides: count("SELECT COUNT(*) AS n FROM rides WHERE created_by = 'bob'"),
      bobSeats: count("SELECT COUNT(*) AS n FROM ride_members WHERE username = 'bob'"),
      seatsOnBobRide: count('SELECT COUNT(*) AS n FROM ride_members WHERE ride_id = ?', bobRide),
      keptRides: count("SELECT COUNT(*) AS n FROM rides WHERE created_by = 'dave'"),
    };
  } finally {
    db.close();
  }
}
