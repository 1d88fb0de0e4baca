import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/shared/ports.ts';
import { ServiceProcess } from '../../src/system/ServiceProcess.ts';
import { startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, post } from '../../harness/http.ts';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';
import { killClusterWorkers } from '../../src/dbaas/runtime/worker-processes.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('an orchestrator that restarts after a crash', () => {
  const cluster = uniqueClusterName('adopt');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));
  let first: ServiceProcess | undefined;
  let successor: DatabaseServiceHandle | undefined;
  let firstWorkers: number[] = [];

  afterAll(async () => {
    // Whatever way the test ended: the first orchestrator, the successor, then any worker of the cluster.
    await first?.kill();
    await successor?.stop();
    for (const pid of firstWorkers) if (alive(pid)) process.kill(-pid, 'SIGKILL');
    await killClusterWorkers(cluster, { graceMs: 0 });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('adopts the running workers: no duplicates, no orphans, and it can still crash and replace them', async () => {
    const { amqpUrl, zkConnect } = testServers();
    const port = await freePort();
    first = new ServiceProcess({
      name: 'orchestrator',
      entry: 'src/dbaas/orchestrator/main.ts',
      port,
      env: {
        AMQP_URL: amqpUrl,
        ZK_CONNECT: zkConnect,
        DATA_DIR: dataDir,
        RIDESHARE_CLUSTER: cluster,
        ORCHESTRATOR_PORT: String(port),
        ZK_SESSION_TIMEOUT_MS: '1000',
        LOG_LEVEL: 'warn',
        RIDESHARE_AUTH: 'off',
      },
    });
    await first.start(() => undefined);
    const base = `http://127.0.0.1:${port}`;
    const write = await post<{ seq: number }>(`${base}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'survivor', password: 'c'.repeat(40) } });
    expect(write.status).toBe(200);
    firstWorkers = (await get<number[]>(`${base}/api/v1/worker/list`)).body;
    expect(firstWorkers).toHaveLength(2);

    const dying = first;
    process.kill(dying.pid as number, 'SIGKILL');
    await until(() => (dying.pid === undefined ? true : undefined), 5000, 'the first orchestrator to die');
    expect(firstWorkers.every(alive)).toBe(true);

    successor = await startDatabaseService({ cluster, dataDir });
    // The dead orchestrator's session still holds the supervisor lease until it expires.
    await until(() => (successor!.orchestrator.isSupervising ? true : undefined), 10_000, 'the successor to supervise');
    const url = (p: string) => `${successor!.orchestratorUrl}${p}`;
    expect((await get<number[]>(url('/api/v1/worker/list'))).body).toEqual(firstWorkers);
    const read = await post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'users', minSeq: write.body.seq });
    expect(read.body.rows).toEqual([{ username: 'survivor', password: 'c'.repeat(40) }]);

    // Adopted workers are managed like its own: a crashed master is replaced and data survives.
    const crashed = await post<number[]>(url('/api/v1/crash/master'));
    expect(crashed.body).toEqual([firstWorkers[0]]);
    const after = await until(
      async () => {
        const workers = await successor!.orchestrator.workers();
        return workers.length === 2 && workers.every((worker) => worker.ready) && workers.some((worker) => worker.role === 'master') ? workers : undefined;
      },
      20_000,
      'a master and a new slave',
    );
    expect(after.map((worker) => worker.pid)).not.toContain(firstWorkers[0]);
    const again = await post<{ seq: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'after', password: 'c'.repeat(40) } });
    expect(again.status).toBe(200);
  });
});
