/**
 * Faults that once lost data or stalled repair: every worker killed within milliseconds, a frozen
 * promotion candidate, reads across orchestrators, and a takeover that fails once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readCommitRecord } from '../../src/dbaas/coordination/commit-record.ts';
import { ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';
import { ProcessRuntime } from '../../src/dbaas/runtime/ProcessRuntime.ts';
import { givenUpWritesPath } from '../../src/dbaas/supervisor/given-up-writes.ts';
import { startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { countNumberedUsers, writeNumberedUsers } from '../../harness/numbered-users.ts';
import { post } from '../../harness/http.ts';
import { staysTrue, until } from '../../harness/replicas.ts';
import { settledWorkers } from '../../harness/workers.ts';

const password = 'b'.repeat(40);
const services: DatabaseServiceHandle[] = [];
const frozen: number[] = [];
/** Data folders two orchestrators share: made here, so removed here (the harness removes only its own). */
const sharedDataDirs: string[] = [];

function sharedDataDir(cluster: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));
  sharedDataDirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const pid of frozen.splice(0)) signal(pid, 'SIGCONT');
});
afterAll(async () => {
  for (const service of services.reverse()) await service.stop();
  for (const dir of sharedDataDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}

describe('healing', () => {
  it('every worker killed within milliseconds: the restart from files keeps every acknowledged write and never reuses a seq', async () => {
    const service = await startDatabaseService({ slaves: 2 });
    services.push(service);
    const lastSeq = await writeNumberedUsers(service, 'kill-all', 0, 150);
    const workers = await settledWorkers(service, 3);
    for (const worker of workers) {
      signal(worker.pid, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    await settledWorkers(service, 3, workers[0]!.pid);
    expect(await countNumberedUsers(service, 'kill-all')).toBe(150);
    const next = await post<{ seq: number }>(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'after-kill-all', password } });
    expect(next.status).toBe(200);
    expect(next.body.seq).toBeGreaterThan(lastSeq);
  });

  it('a frozen promotion candidate is passed over: another slave is master within seconds', async () => {
    const service = await startDatabaseService({ slaves: 2 });
    services.push(service);
    await writeNumberedUsers(service, 'frozen-candidate', 0, 20);
    const workers = await settledWorkers(service, 3);
    const master = workers.find((worker) => worker.role === 'master')!;
    const [candidate, other] = workers.filter((worker) => worker.role === 'slave').sort((a, b) => a.pid - b.pid);
    signal(candidate!.pid, 'SIGSTOP');
    frozen.push(candidate!.pid);
    const began = Date.now();
    signal(master.pid, 'SIGKILL');
    const successor = await until(async () => (await service.orchestrator.workers()).find((worker) => worker.role === 'master' && worker.ready && worker.pid !== master.pid), 15_000, 'a new master');
    expect(successor.pid).toBe(other!.pid);
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(await countNumberedUsers(service, 'frozen-candidate')).toBe(20);
  });

  it('a fresh read sees every acknowledged write, whichever orchestrator acknowledged it', async () => {
    const cluster = uniqueClusterName('fresh');
    const dataDir = sharedDataDir(cluster);
    const first = await startDatabaseService({ cluster, dataDir, slaves: 2 });
    const second = await startDatabaseService({ cluster, dataDir, slaves: 2 });
    services.push(first, second);
    for (let i = 0; i < 40; i += 1) {
      const written = await post(`${first.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: `fresh-${i}`, password } });
      expect(written.status).toBe(200);
      const read = await post<{ rows: unknown[] }>(`${second.orchestratorUrl}/api/v1/db/read`, { table: 'users', where: { username: `fresh-${i}` }, fresh: true });
      expect(read.status).toBe(200);
      expect(read.body.rows).toHaveLength(1);
    }
  });

  it('a standby whose takeover fails gives the lease back and takes over on a later try', async () => {
    const cluster = uniqueClusterName('takeover');
    const dataDir = sharedDataDir(cluster);
    const leader = await startDatabaseService({ cluster, dataDir, slaves: 1 });
    let failures = 1;
    class FailingOnceRuntime extends ProcessRuntime {
      override async adopt(...args: Parameters<ProcessRuntime['adopt']>): ReturnType<ProcessRuntime['adopt']> {
        if (failures > 0) {
          failures -= 1;
          throw new Error('adoption failed (injected)');
        }
        return super.adopt(...args);
      }
    }
    const runtime = new FailingOnceRuntime({ logDir: path.join(dataDir, 'logs'), cluster } as ConstructorParameters<typeof ProcessRuntime>[0]);
    const standby = await startDatabaseService({ cluster, dataDir, slaves: 1, runtime });
    services.push(standby);
    const before = await leader.orchestrator.workerPids();
    await leader.orchestrator.stop({ leaveWorkers: true });
    await until(() => (failures === 0 ? true : undefined), 15_000, 'the first takeover attempt');
    await until(() => (standby.orchestrator.isSupervising ? true : undefined), 15_000, 'a second, successful takeover');
    expect(await standby.orchestrator.workerPids()).toEqual(before);
    expect((await post(`${standby.orchestratorUrl}/api/v1/crash/slave`)).status).toBe(200);
  });
});

describe('a standby that took over with a DATA_DIR of its own', () => {
  async function takeOverIntoOwnDir(prefix: string) {
    const cluster = uniqueClusterName(prefix);
    const leaderDir = sharedDataDir(cluster);
    const leader = await startDatabaseService({ cluster, dataDir: leaderDir, slaves: 1 });
    // The cluster's secrets are the cluster's, not the folder's: the standby is given them, as an operator would.
    const secrets = { ZK_AUTH: `${leader.zkAuth.user}:${leader.zkAuth.password}`, CLUSTER_KEY: fs.readFileSync(path.join(leaderDir, 'secrets', 'cluster.key'), 'utf8') };
    const standby = await startDatabaseService({ cluster, dataDir: sharedDataDir(cluster), slaves: 1, env: secrets });
    services.push(standby, leader);
    const lastSeq = await writeNumberedUsers(leader, prefix, 0, 60);
    await leader.orchestrator.stop({ leaveWorkers: true });
    await until(() => (standby.orchestrator.isSupervising ? true : undefined), 15_000, 'the standby to take over');
    const workers = await settledWorkers(standby, 2);
    return { standby, leaderDir, workers, lastSeq };
  }

  function killAll(workers: { pid: number }[]): void {
    for (const worker of workers) signal(worker.pid, 'SIGKILL');
  }

  it('restarts from the most advanced file, kept in the old supervisor\u2019s folder, when every worker dies', async () => {
    const { standby, workers, lastSeq } = await takeOverIntoOwnDir('own-dir');
    killAll(workers);
    await settledWorkers(standby, 2, workers[0]!.pid);
    expect(await countNumberedUsers(standby, 'own-dir')).toBe(60);
    const next = await post<{ seq: number }>(`${standby.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'own-dir-after', password } });
    expect(next.status).toBe(200);
    expect(next.body.seq).toBeGreaterThan(lastSeq);
  });

  it('refuses to restart while a folder that may hold newer writes cannot be read, and restarts once the operator gives it and its writes up', async () => {
    const { standby, leaderDir, workers } = await takeOverIntoOwnDir('lost-dir');
    killAll(workers);
    fs.rmSync(leaderDir, { recursive: true, force: true });
    const killed = new Set(workers.map((worker) => worker.pid));
    await until(async () => (await standby.orchestrator.workers()).every((worker) => !killed.has(worker.pid)), 10_000, 'the killed workers\u2019 sessions to end');
    await staysTrue(async () => (await standby.orchestrator.workers()).every((worker) => worker.role !== 'master'), 3_000, 'no master from a file that may lag');
    // Given up on purpose: the folder exists again, empty.
    fs.mkdirSync(path.join(leaderDir, 'workers'), { recursive: true });
    // Its writes were the only copy of what the commit record says was answered: the restart
    // still refuses the standby's empty folder until those writes are given up too.
    await staysTrue(async () => (await standby.orchestrator.workers()).every((worker) => worker.role !== 'master'), 2_000, 'no master from a folder behind the commit record');
    const zk = new ZkClient({ connect: standby.zkConnect, sessionTimeoutMs: 4000, credentials: standby.zkAuth });
    try {
      await zk.connect();
      const committed = await readCommitRecord(zk, standby.cluster);
      expect(committed?.seq).toBeGreaterThanOrEqual(60);
      fs.writeFileSync(givenUpWritesPath(standby.dataDir), JSON.stringify(committed));
    } finally {
      zk.close();
    }
    await settledWorkers(standby, 2, workers[0]!.pid);
  });
});

describe('a supervisor dying while it starts a worker', () => {
  it('the standby adopts the worker that had not registered yet and lets it join, rather than killing it', async () => {
    const cluster = uniqueClusterName('launch');
    const dataDir = sharedDataDir(cluster);
    const leader = await startDatabaseService({ cluster, dataDir, slaves: 1 });
    const standby = await startDatabaseService({ cluster, dataDir, slaves: 1 });
    services.push(standby);
    const before = new Set(leader.runtime.list().map((worker) => worker.workerId));
    await leader.orchestrator.supervisor!.setDesiredSlaves(2);
    const launched = await until(() => leader.runtime.list().find((worker) => !before.has(worker.workerId)), 10_000, 'the launch of a second slave');
    // The supervisor goes away at once, its new worker still loading and unregistered.
    await leader.orchestrator.stop({ leaveWorkers: true });
    await until(() => (standby.orchestrator.isSupervising ? true : undefined), 15_000, 'the standby to take over');
    const joined = await until(async () => (await standby.orchestrator.workers()).find((worker) => worker.workerId === launched.workerId && worker.ready), 30_000, 'the launched worker to join');
    expect(joined.pid).toBe(launched.pid);
    expect(await standby.orchestrator.workerPids()).toHaveLength(3);
  });
});

describe('joining under write load', () => {
  it('a new slave copies a snapshot at least as recent as where it joined the sync log: it joins on the first try, never meets a gap', async () => {
    const service = await startDatabaseService({ slaves: 2 });
    services.push(service);
    await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'loader', password } });
    let writing = true;
    let written = 0;
    const writers = Array.from({ length: 8 }, async (_, lane) => {
      for (let i = 0; writing; i += 1) {
        const rows = Array.from({ length: 20 }, (_, k) => ({ created_by: 'loader', timestamp: 1_900_000_000 + i, source: 1 + ((lane + k) % 198), destination: 2 }));
        const answer = await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'rides', rows });
        if (answer.status === 200) written += rows.length;
      }
    });
    try {
      for (let i = 0; i < 4; i += 1) {
        const joined = await service.orchestrator.supervisor!.startWorker('slave');
        expect(joined.pid).toBeGreaterThan(0);
      }
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    expect(written).toBeGreaterThan(0);
  });

  it('a snapshot is never taken from a slave that lags behind where the joiner began reading the sync log', async () => {
    // A session long enough for a slave frozen 1.5 s to stay registered: it resumes with a backlog.
    const service = await startDatabaseService({ slaves: 1, env: { ZK_SESSION_TIMEOUT_MS: '6000' } });
    services.push(service);
    await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'loader', password } });
    const [slave] = (await settledWorkers(service, 2)).filter((worker) => worker.role === 'slave');
    let writing = true;
    const writers = Array.from({ length: 8 }, async (_, lane) => {
      for (let i = 0; writing; i += 1) {
        const rows = Array.from({ length: 50 }, (_, k) => ({ created_by: 'loader', timestamp: 1_900_000_000 + i, source: 1 + ((lane + k) % 198), destination: 3 }));
        await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'rides', rows });
      }
    });
    try {
      signal(slave!.pid, 'SIGSTOP');
      frozen.push(slave!.pid);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      signal(slave!.pid, 'SIGCONT');
      // The only slave now has a backlog; it is the first choice for snapshot requests.
      const joined = await service.orchestrator.supervisor!.startWorker('slave');
      expect(joined.pid).toBeGreaterThan(0);
    } finally {
      writing = false;
      await Promise.all(writers);
    }
  });
});
