import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScalingDecision } from '../../src/dbaas/supervisor/Autoscaler.ts';
import { startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, inParallel, post } from '../../harness/http.ts';
import { staysTrue, until } from '../../harness/replicas.ts';

const fromSlaves = (workers: { role: string; pid: number }[]) => workers.filter((worker) => worker.role === 'slave').map((worker) => worker.pid);

describe('several orchestrators on one cluster', () => {
  const cluster = uniqueClusterName('multi');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));
  const scaling = { windowMs: 3000, readsPerSlave: 20, maxSlaves: 4 };
  let first: DatabaseServiceHandle;
  let second: DatabaseServiceHandle;

  beforeAll(async () => {
    first = await startDatabaseService({ cluster, dataDir, slaves: 1, scaling });
    second = await startDatabaseService({ cluster, dataDir, slaves: 1, scaling });
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('exactly one supervises; the other serves the API and starts no workers of its own', async () => {
    expect(first.orchestrator.isSupervising).toBe(true);
    expect(second.orchestrator.isSupervising).toBe(false);
    const fromFirst = await get<number[]>(`${first.orchestratorUrl}/api/v1/worker/list`);
    const fromSecond = await get<number[]>(`${second.orchestratorUrl}/api/v1/worker/list`);
    expect(fromSecond.body).toEqual(fromFirst.body);
    expect(fromFirst.body).toHaveLength(2);
    const write = await post<{ seq: number }>(`${second.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'via-second', password: 'd'.repeat(40) } });
    expect(write.status).toBe(200);
    // A call passed on once is never passed on again: the receiver answers it itself.
    const passedOn = await post<{ error: string }>(`${second.orchestratorUrl}/api/v1/crash/slave`, undefined, { headers: { 'x-rideshare-forwarded-by': 'o-test' } });
    expect(passedOn.status).toBe(503);
    expect(passedOn.body.error).toMatch(/standing by/);
  });

  it('a standby passes crash calls to the supervising orchestrator', async () => {
    const slaves = fromSlaves(await first.orchestrator.workers());
    const crash = await post<number[]>(`${second.orchestratorUrl}/api/v1/crash/slave`);
    expect(crash.status).toBe(200);
    expect(slaves).toContain(crash.body[0]);
    await until(
      async () => {
        const workers = await first.orchestrator.workers();
        return workers.length === 2 && workers.every((worker) => worker.ready) && !workers.some((worker) => worker.pid === crash.body[0]) ? true : undefined;
      },
      20_000,
      'the crashed slave replaced',
    );
  });

  it('reads counted by every orchestrator count for scaling', async () => {
    await inParallel(12, 4, () => post(`${first.orchestratorUrl}/api/v1/db/read`, { table: 'users' }));
    await inParallel(12, 4, () => post(`${second.orchestratorUrl}/api/v1/db/read`, { table: 'users' }));
    const decision = await until(async () => (await get<{ decisions: ScalingDecision[] }>(`${first.orchestratorUrl}/api/v1/scaling`)).body.decisions[0], 8000, 'the first scaling decision');
    expect(decision.reads).toBe(24);
    expect(decision.slavesAfter).toBe(2);
  });

  it('when the supervising one leaves, the other takes over the running workers', async () => {
    const before = (await get<number[]>(`${first.orchestratorUrl}/api/v1/worker/list`)).body;
    await first.orchestrator.stop({ leaveWorkers: true });
    await until(() => (second.orchestrator.isSupervising ? true : undefined), 10_000, 'the standby to take over');
    const adopted = await until(
      async () => {
        const list = (await get<number[]>(`${second.orchestratorUrl}/api/v1/worker/list`)).body;
        return before.every((pid) => list.includes(pid)) ? list : undefined;
      },
      10_000,
      'the same workers under the new supervisor',
    );
    expect(adopted).toEqual(expect.arrayContaining(before));
    const crashed = await post<number[]>(`${second.orchestratorUrl}/api/v1/crash/master`);
    expect(crashed.status).toBe(200);
    const write = await until(
      async () => {
        const answer = await post<{ seq: number }>(`${second.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'after-handover', password: 'd'.repeat(40) } });
        return answer.status === 200 ? answer : undefined;
      },
      10_000,
      'a write under the new master',
    );
    const read = await post<{ rows: { username: string }[] }>(`${second.orchestratorUrl}/api/v1/db/read`, { table: 'users', minSeq: write.body.seq });
    expect(read.body.rows.map((row) => row.username).sort()).toEqual(['after-handover', 'via-second']);
  });
});

describe('an orchestrator that never supervises (ORCHESTRATOR_SUPERVISES=off)', () => {
  const cluster = uniqueClusterName('nosup');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-elsewhere-`));
  let first: DatabaseServiceHandle | undefined;
  let serving: DatabaseServiceHandle | undefined;

  afterAll(async () => {
    await serving?.stop();
    await first?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(elsewhere, { recursive: true, force: true });
  });

  it('serves the API while another supervises, and does not take over when that one leaves: the cluster waits for it', async () => {
    first = await startDatabaseService({ cluster, dataDir, slaves: 1 });
    // Another host's DATA_DIR: the cluster's secrets copied, no data.
    fs.cpSync(path.join(dataDir, 'secrets'), path.join(elsewhere, 'secrets'), { recursive: true });
    serving = await startDatabaseService({ cluster, dataDir: elsewhere, slaves: 1, env: { ORCHESTRATOR_SUPERVISES: 'off' } });
    expect(serving.orchestrator.isSupervising).toBe(false);
    const write = await post<{ seq: number }>(`${serving.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'kept', password: 'd'.repeat(40) } });
    expect(write.status).toBe(200);
    const workers = (await get<number[]>(`${first.orchestratorUrl}/api/v1/worker/list`)).body;
    await first.orchestrator.stop({ leaveWorkers: true });
    // A standby would have taken over within a second or two (the test above); this one never does.
    await staysTrue(() => serving?.orchestrator.isSupervising === false, 4000, 'the non-supervising orchestrator stays out');
    // The one that holds the data comes back and adopts the workers it left; nothing was started elsewhere.
    first = await startDatabaseService({ cluster, dataDir, slaves: 1 });
    expect(first.orchestrator.isSupervising).toBe(true);
    expect((await get<number[]>(`${first.orchestratorUrl}/api/v1/worker/list`)).body).toEqual(workers);
    const read = await post<{ rows: { username: string }[] }>(`${serving.orchestratorUrl}/api/v1/db/read`, { table: 'users', minSeq: write.body.seq });
    expect(read.body.rows.map((row) => row.username)).toEqual(['kept']);
  });
});

describe('an orchestrator that only takes over a running cluster (ORCHESTRATOR_SUPERVISES=takeover, the hosts without the data)', () => {
  const cluster = uniqueClusterName('takeover');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-elsewhere-`));
  let first: DatabaseServiceHandle | undefined;
  let standby: DatabaseServiceHandle | undefined;
  const user = (username: string) => ({ op: 'insert', table: 'users', values: { username, password: 'e'.repeat(40) } });

  afterAll(async () => {
    await standby?.stop();
    await first?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(elsewhere, { recursive: true, force: true });
  });

  it('carries on the cluster when the one with the data is lost with the master, and leaves a restart from files to it', async () => {
    first = await startDatabaseService({ cluster, dataDir, slaves: 1 });
    // Another host's DATA_DIR: the cluster's secrets copied, no data.
    fs.cpSync(path.join(dataDir, 'secrets'), path.join(elsewhere, 'secrets'), { recursive: true });
    standby = await startDatabaseService({ cluster, dataDir: elsewhere, slaves: 1, env: { ORCHESTRATOR_SUPERVISES: 'takeover' } });
    expect(standby.orchestrator.isSupervising).toBe(false);
    expect((await post(`${standby.orchestratorUrl}/api/v1/db/write`, user('before'))).status).toBe(200);

    // The database host is lost: its orchestrator and its master at once; the slave lives on.
    const before = (await get<{ workers: { role: string; pid: number }[] }>(`${first.orchestratorUrl}/api/v1/cluster`)).body.workers;
    const master = before.find((worker) => worker.role === 'master');
    expect(master, JSON.stringify(before)).toBeDefined();
    await first.orchestrator.stop({ leaveWorkers: true });
    process.kill((master as { pid: number }).pid, 'SIGKILL');
    await until(() => (standby?.orchestrator.isSupervising ? true : undefined), 20_000, 'the takeover-only orchestrator supervising');
    const after = await until(
      async () => {
        const write = await post<{ seq: number }>(`${standby?.orchestratorUrl}/api/v1/db/write`, user(`after-${Date.now()}`));
        return write.status === 200 ? write.body : undefined;
      },
      20_000,
      'a write through the promoted slave',
    );
    const read = await post<{ rows: { username: string }[] }>(`${standby.orchestratorUrl}/api/v1/db/read`, { table: 'users', minSeq: after.seq });
    expect(read.body.rows.map((row) => row.username)).toContain('before');

    // Every worker lost: the restart from files is the data's host's. The takeover-only one steps
    // down and starts nothing; nothing of the cluster is removed.
    for (const worker of (await get<{ workers: { pid: number }[] }>(`${standby.orchestratorUrl}/api/v1/cluster`)).body.workers) process.kill(worker.pid, 'SIGKILL');
    await until(() => (standby?.orchestrator.isSupervising === false ? true : undefined), 20_000, 'the takeover-only orchestrator stepping down');
    const masters = async () => (await get<{ workers: { role: string }[] }>(`${standby?.orchestratorUrl}/api/v1/cluster`)).body.workers.filter((worker) => worker.role === 'master').length;
    await staysTrue(async () => standby?.orchestrator.isSupervising === false && (await masters()) === 0, 4000, 'no master started by the takeover-only orchestrator');
    first = await startDatabaseService({ cluster, dataDir, slaves: 1 });
    expect(first.orchestrator.isSupervising).toBe(true);
    const again = await until(
      async () => {
        const answer = await post<{ rows: { username: string }[] }>(`${first?.orchestratorUrl}/api/v1/db/read`, { table: 'users', minSeq: after.seq });
        return answer.status === 200 ? answer.body.rows.map((row) => row.username) : undefined;
      },
      30_000,
      'a read from the cluster restarted from files',
    );
    expect(again).toContain('before');
    expect(again.some((name) => name.startsWith('after-'))).toBe(true);
  });
});
