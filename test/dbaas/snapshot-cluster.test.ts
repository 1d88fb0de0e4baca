/**
 * Snapshots between real worker processes: a database bigger than 16 MiB (RabbitMQ 4's default
 * max_message_size) replicates to a new slave, and a sender killed in the middle of a transfer is
 * replaced at once by another server (the broker hands it the request), with no timeout to wait.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { DEFAULT_SNAPSHOT_TEMP_DIR } from '../../src/dbaas/replication/snapshot-temp-files.ts';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { inParallel, post } from '../../harness/http.ts';
import { settledWorkers } from '../../harness/workers.ts';

const RIDES = 300_000;
const MIB = 1024 * 1024;

describe('snapshots between worker processes', () => {
  let service: DatabaseServiceHandle;
  const url = (route: string) => `${service.orchestratorUrl}${route}`;
  const fileOf = (workerId: string) => path.join(service.dataDir, 'workers', `${workerId}.db`);
  const pidsSeen = new Set<number>();

  beforeAll(async () => {
    // A 4 s ZooKeeper session: the test freezes a joining worker for a moment.
    service = await startDatabaseService({ slaves: 1, env: { ZK_SESSION_TIMEOUT_MS: '4000' } });
    const user = await post(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'driver', password: 'd'.repeat(40) } });
    expect(user.status).toBe(200);
    const writes = await inParallel(RIDES / 1000, 4, (batch) =>
      post(url('/api/v1/db/write'), {
        op: 'insert',
        table: 'rides',
        rows: Array.from({ length: 1000 }, (_, i) => ({
          created_by: 'driver',
          timestamp: 1_900_000_000 + batch * 1000 + i,
          source: 1 + (i % 198),
          destination: 1 + ((batch + i) % 198),
        })),
      }),
    );
    expect(writes.every((write) => write.status === 200)).toBe(true);
  }, 300_000);
  afterAll(async () => {
    await service?.stop();
  });

  async function workers(): Promise<WorkerInfo[]> {
    const all = await service.orchestrator.workers();
    for (const worker of all) pidsSeen.add(worker.pid);
    return all;
  }

  function expectIdenticalReplicas(all: WorkerInfo[]): void {
    const [first, ...others] = all.map((worker) => digest(fileOf(worker.workerId)));
    expect(first?.rides).toBe(RIDES);
    for (const other of others) expect(other).toEqual(first);
  }

  it('a new slave joins a master holding 300,000 rides, a database over 16 MiB', async () => {
    const [slave] = (await workers()).filter((worker) => worker.role === 'slave');
    // With the only slave gone, the master is the only server its replacement can copy from.
    await service.runtime.kill(slave!.workerId);
    const all = await settledWorkers(service, 2, slave!.pid);
    const joined = all.find((worker) => worker.role === 'slave')!;
    pidsSeen.add(joined.pid);

    expect(fs.statSync(fileOf(joined.workerId)).size).toBeGreaterThan(16 * MIB);
    expectIdenticalReplicas(all);
    const count = await post<{ rows: { count: number }[] }>(url('/api/v1/db/read'), { table: 'rides', count: true, fresh: true });
    expect(count.body.rows).toEqual([{ count: RIDES }]);
  }, 120_000);

  it('a joining slave whose sender is killed mid-transfer gets its snapshot from another server, and no copy is left behind', async () => {
    const before = await workers();
    const known = new Set(before.map((worker) => worker.workerId));
    const sender = before.find((worker) => worker.role === 'slave')!;
    const master = before.find((worker) => worker.role === 'master')!;
    await setDesiredSlaves(2);

    // The slave has the highest snapshot priority: its copy appearing means it took the request.
    const joiner = await pollFast(() => service.runtime.list().find((handle) => !known.has(handle.workerId)), 30_000);
    pidsSeen.add(joiner.pid);
    const copy = await pollFast(() => copiesOf([sender.pid, master.pid])[0], 30_000);
    expect(copy, 'the slave is the one sending').toMatch(new RegExp(`^${sender.pid}-`));
    // Frozen, the newcomer acknowledges nothing: the sender finishes its copy, sends one window
    // of chunks and waits. It dies there, with the request in its hands.
    process.kill(joiner.pid, 'SIGSTOP');
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await service.runtime.kill(sender.workerId);
    } finally {
      process.kill(joiner.pid, 'SIGCONT');
    }

    const all = await settledWorkers(service, 3, sender.pid);
    for (const worker of all) pidsSeen.add(worker.pid);
    expect(all.map((worker) => worker.workerId)).toContain(joiner.workerId);
    // Taken over through the redelivered request (the master), not after a silence timeout.
    const joinerLog = fs.readFileSync(path.join(service.dataDir, 'logs', `${joiner.workerId}.log`), 'utf8');
    expect(joinerLog).toContain('another one took over the request');
    expect(joinerLog).not.toContain('snapshot attempt failed');
    expectIdenticalReplicas(all);

    expect(copiesOf([...pidsSeen])).toEqual([]);
    expect(fs.readdirSync(path.join(service.dataDir, 'workers')).filter((name) => !/\.db(-wal|-shm)?$/.test(name))).toEqual([]);
  }, 120_000);

  async function setDesiredSlaves(count: number): Promise<void> {
    const supervisor = service.orchestrator.supervisor;
    if (!supervisor) throw new Error('the orchestrator does not supervise');
    await supervisor.setDesiredSlaves(count);
  }
});

/** The snapshot copies that these processes have in the shared temporary folder. */
function copiesOf(pids: number[]): string[] {
  const names = fs.existsSync(DEFAULT_SNAPSHOT_TEMP_DIR) ? fs.readdirSync(DEFAULT_SNAPSHOT_TEMP_DIR) : [];
  return names.filter((name) => pids.includes(Number(name.split('-')[0])));
}

/** Polls every 2 ms: for a moment that lasts only a few hundred milliseconds. */
async function pollFast<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * What a replica holds, summed up inside SQLite: reading 300,000 rows into this process would stall
 * its event loop for seconds, and with it the in-process orchestrator's 1 s ZooKeeper session.
 */
function digest(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(
        `SELECT (SELECT applied_seq FROM replication_state) AS appliedSeq,
                (SELECT count(*) FROM users) AS users,
                count(*) AS rides,
                sum(ride_id * 7 + timestamp) AS idsAndTimes,
                sum((source * 1000 + destination) * ride_id) AS routes,
                sum(length(created_by) * ride_id) AS creators
         FROM rides`,
      )
      .get() as Record<string, number>;
  } finally {
    db.close();
  }
}
