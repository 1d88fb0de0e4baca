/**
 * The failover scenario with every worker in a container: crash/slave, crash/master (the ready
 * slave with the lowest pid takes over), a worker killed or frozen from outside, and the data
 * served by the replacements; then an orchestrator restarted over the running containers adopts them, and
 * stopping the service leaves no container behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime, LABELS } from '../../src/dbaas/runtime/DockerRuntime.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, type HttpResponse, post } from '../../harness/http.ts';
import { until } from '../../harness/replicas.ts';
import { settledWorkers } from '../../harness/workers.ts';
import { dockerEngine, suiteTitle } from '../../harness/docker-engine.ts';

const engine = await dockerEngine();

describe.skipIf(!engine.ok)(suiteTitle('failover with worker containers', engine), () => {
  const docker = engine.ok ? engine.docker : undefined!;
  const cluster = uniqueClusterName('dockerfo');
  // Made in beforeAll: a skipped suite still runs this body, and must leave nothing behind.
  let dataDir: string;
  const logLevel = process.env.TEST_LOG_LEVEL ?? 'warn';
  const password = '0'.repeat(40);
  let service: DatabaseServiceHandle;
  const url = (route: string) => `${service.orchestratorUrl}${route}`;

  const newRuntime = () => new DockerRuntime({ cluster, dataDir, logDir: path.join(dataDir, 'logs'), image: engine.ok ? engine.image : '', logger: createLogger('test-docker-runtime', logLevel) });
  const start = () => startDatabaseService({ cluster, dataDir, slaves: 2, env: { LOG_LEVEL: logLevel }, runtime: newRuntime() });
  const containers = () => docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`] } });
  const workers = () => service.orchestrator.workers();

  const settled = (count: number, without?: number) => settledWorkers(service, count, without);

  /** Each registered pid is the main process of a running container of the cluster. */
  async function expectContainersMatch(): Promise<void> {
    const running = (await containers()).filter((info) => info.State === 'running');
    const pids = await Promise.all(running.map(async (info) => (await docker.getContainer(info.Id).inspect()).State.Pid));
    expect(pids.sort((a, b) => a - b)).toEqual((await workers()).map((worker) => worker.pid).sort((a, b) => a - b));
  }

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));
    service = await start();
  });
  afterAll(async () => {
    await service?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs a master and two slaves as containers, listed by ascending pid', async () => {
    await settled(3);
    await expectContainersMatch();
    const list = await get<number[]>(url('/api/v1/worker/list'));
    expect(list.body).toEqual([...list.body].sort((a, b) => a - b));
    expect(list.body).toEqual((await workers()).map((worker) => worker.pid).sort((a, b) => a - b));
  });

  it('crash/slave kills the slave container with the highest pid; the replacement serves the data', async () => {
    const write = await post<{ seq: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'before-crash', password } });
    expect(write.status).toBe(200);
    const before = await settled(3);
    const highest = Math.max(...before.filter((worker) => worker.role === 'slave').map((worker) => worker.pid));
    const crash = await post<number[]>(url('/api/v1/crash/slave'));
    expect(crash.status).toBe(200);
    expect(crash.body).toEqual([highest]);
    const after = await settled(3, highest);
    const replacement = after.find((worker) => !before.some((old) => old.workerId === worker.workerId));
    expect(replacement?.role).toBe('slave');
    await expectContainersMatch();
    // The replacement copied the data into its own file, through its container's mount.
    const file = path.join(dataDir, 'workers', `${replacement!.workerId}.db`);
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      expect(db.prepare('SELECT username FROM users').all()).toEqual([{ username: 'before-crash' }]);
    } finally {
      db.close();
    }
    const read = await post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'users', minSeq: write.body.seq });
    expect(read.status).toBe(200);
    expect(read.body.rows).toEqual([{ username: 'before-crash', password }]);
  });

  it('crash/master promotes the ready slave with the lowest pid and starts a new slave container', async () => {
    const before = await settled(3);
    const master = before.find((worker) => worker.role === 'master')!;
    const lowestSlave = before.filter((worker) => worker.role === 'slave').sort((a, b) => a.pid - b.pid)[0]!;
    const crash = await post<number[]>(url('/api/v1/crash/master'));
    expect(crash.status).toBe(200);
    expect(crash.body).toEqual([master.pid]);
    const started = Date.now();
    let write: HttpResponse<{ seq: number; epoch: number }>;
    do {
      write = await post<{ seq: number; epoch: number }>(url('/api/v1/db/write'), {
        op: 'insert',
        table: 'users',
        values: { username: 'after-crash', password },
        requestId: 'docker-after-crash',
      });
    } while (write.status === 503 && Date.now() - started < 20_000);
    expect(write.status).toBe(200);
    expect(write.body.epoch).toBeGreaterThan(master.epoch);
    const after = await settled(3, master.pid);
    expect(after.find((worker) => worker.role === 'master')?.workerId).toBe(lowestSlave.workerId);
    await expectContainersMatch();
    const read = await post<{ rows: { username: string }[] }>(url('/api/v1/db/read'), { table: 'users', minSeq: write.body.seq });
    expect(read.body.rows.map((row) => row.username).sort()).toEqual(['after-crash', 'before-crash']);
  });

  it('a slave container killed from outside is noticed through the engine and replaced', async () => {
    const before = await settled(3);
    const victim = before.find((worker) => worker.role === 'slave')!;
    process.kill(victim.pid, 'SIGKILL');
    await settled(3, victim.pid);
    await expectContainersMatch();
  });

  it('a master container frozen past its session (host SIGSTOP of its pid) is killed and replaced', async () => {
    const before = await settled(3);
    const master = before.find((worker) => worker.role === 'master')!;
    process.kill(master.pid, 'SIGSTOP');
    try {
      await until(
        async () => {
          const current = (await workers()).find((worker) => worker.role === 'master' && worker.ready);
          return current && current.workerId !== master.workerId ? current : undefined;
        },
        30_000,
        'a new master',
      );
    } finally {
      try {
        process.kill(master.pid, 'SIGCONT');
      } catch {
        // Already killed by the supervisor, as it should be.
      }
    }
    await settled(3, master.pid);
    await expectContainersMatch();
    const write = await post(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'after-freeze', password } });
    expect(write.status).toBe(200);
  });

  it('a restarted orchestrator adopts the running containers; stopping removes them all', async () => {
    const before = await settled(3);
    // An orchestrator that goes away without stopping its workers, as a crashed one would.
    const orphaned = service.orchestrator;
    service.runtime.close = async () => {};
    await orphaned.stop();
    expect((await containers()).filter((info) => info.State === 'running')).toHaveLength(3);

    service = await start();
    const after = await settled(3);
    expect(after.map((worker) => worker.workerId).sort()).toEqual(before.map((worker) => worker.workerId).sort());
    expect(
      service.runtime
        .list()
        .map((handle) => handle.pid)
        .sort(),
    ).toEqual(before.map((worker) => worker.pid).sort());
    const read = await post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'users' });
    expect(read.status).toBe(200);

    await service.stop();
    expect(await containers()).toEqual([]);
    service = undefined!;
  });
});
