/**
 * Workers placed on hosts through ZooKeeper: three orchestrators of one cluster on this machine,
 * each the agent of a host of its own name (a, b, c). The supervisor assigns, each host's agent
 * starts and stops its own workers; no orchestrator signals a process of another host. As
 * `npm start -- --host` runs them, a supervises (`on`) and b and c only take over a running
 * cluster (`takeover`).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentReport, readAssignment } from '../../src/dbaas/coordination/assignments.ts';
import { readCommitRecord } from '../../src/dbaas/coordination/commit-record.ts';
import { clusterPaths } from '../../src/dbaas/protocol/names.ts';
import { CreateMode, isZkError, ZkClient, ZkErrorCode } from '../../src/dbaas/coordination/ZkClient.ts';
import { startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, post } from '../../harness/http.ts';
import { until } from '../../harness/replicas.ts';
import { testServers } from '../../harness/inject.ts';

const password = 'e'.repeat(40);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('orchestrators as host agents', () => {
  const cluster = uniqueClusterName('agents');
  const dirs: string[] = [];
  const hosts: Record<string, DatabaseServiceHandle> = {};
  let zk: ZkClient;
  // One cluster's credentials on every host (each host has its own DATA_DIR, where they would otherwise be made).
  const secrets = { ZK_AUTH: `rideshare:${randomBytes(16).toString('hex')}`, CLUSTER_KEY: randomBytes(32).toString('hex') };

  const start = async (host: string, slaves: number, supervises: 'on' | 'takeover') => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-${host}-`));
    dirs.push(dataDir);
    hosts[host] = await startDatabaseService({
      cluster,
      dataDir,
      slaves,
      agentHost: host,
      env: { ...secrets, ORCHESTRATOR_SUPERVISES: supervises, LOG_LEVEL: process.env.AGENTS_LOG_LEVEL ?? 'warn' },
    });
    return hosts[host];
  };
  /** Each worker's host, as assigned, by its registration's pid. */
  const placement = async (service: DatabaseServiceHandle) => {
    const workers = await service.orchestrator.workers();
    return Promise.all(workers.map(async (worker) => ({ ...worker, host: (await readAssignment(zk, cluster, worker.workerId))?.host })));
  };
  const settled = (service: DatabaseServiceHandle, count: number) =>
    until(
      async () => {
        const workers = await placement(service);
        return workers.length === count && workers.every((worker) => worker.ready && worker.host) ? workers : undefined;
      },
      30_000,
      `${count} ready workers`,
    );

  beforeAll(async () => {
    zk = new ZkClient({ connect: testServers().zkConnect, sessionTimeoutMs: 4000 });
    await zk.connect();
    // The first supervises; with only its own host running, it starts the master alone.
    await start('a', 0, 'on');
    await start('b', 0, 'takeover');
    await start('c', 0, 'takeover');
    await hosts.a!.orchestrator.supervisor!.setDesiredSlaves(2);
  });
  afterAll(async () => {
    for (const service of Object.values(hosts).reverse()) await service.stop().catch(() => undefined);
    zk?.close();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('puts the master and each slave on a host of their own, each host\u2019s agent reporting its own', async () => {
    const workers = await settled(hosts.a!, 3);
    const master = workers.find((worker) => worker.role === 'master')!;
    expect(master.host).toBe('a');
    expect(
      workers
        .filter((worker) => worker.role === 'slave')
        .map((worker) => worker.host)
        .sort(),
    ).toEqual(['b', 'c']);
    for (const worker of workers) {
      const report = await readAgentReport(zk, cluster, worker.host!);
      expect(report?.running.map((running) => running.workerId)).toContain(worker.workerId);
    }
    const list = await get<number[]>(`${hosts.b!.orchestratorUrl}/api/v1/worker/list`);
    expect(list.body).toEqual(workers.map((worker) => worker.pid).sort((x, y) => x - y));
    const write = await post(`${hosts.c!.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'placed', password } });
    expect(write.status).toBe(200);
  });

  it('lets a client without the cluster\u2019s credentials read the assignments and reports but neither write nor remove them', async () => {
    const [worker] = await settled(hosts.a!, 3);
    const paths = clusterPaths(cluster);
    expect((await readAssignment(zk, cluster, worker!.workerId))?.host).toBeDefined();
    const outcome = (action: Promise<unknown>) =>
      action.then(
        () => 'done',
        (error: unknown) => (isZkError(error, ZkErrorCode.NO_AUTH) ? 'NO_AUTH' : String(error)),
      );
    expect(await outcome(zk.setData(paths.assignmentNode(worker!.workerId), { host: 'intruder', role: 'master', reason: 'x' }))).toBe('NO_AUTH');
    expect(await outcome(zk.create(paths.assignmentNode('s-intruder'), { host: 'a', role: 'slave', reason: 'x' }, CreateMode.PERSISTENT))).toBe('NO_AUTH');
    expect(await outcome(zk.remove(paths.assignmentNode(worker!.workerId)))).toBe('NO_AUTH');
    expect(await outcome(zk.setData(paths.agentNode('b'), { host: 'b', orchestratorId: 'o-x', pid: 1, settled: true, running: [], exits: [] }))).toBe('NO_AUTH');
    expect(await outcome(zk.create(paths.agentNode('intruder'), {}, CreateMode.EPHEMERAL))).toBe('NO_AUTH');
  });

  it('crash/slave kills the highest-pid slave through its own host\u2019s agent, and a slave starts again away from the master', async () => {
    const before = await settled(hosts.a!, 3);
    const victim = before.filter((worker) => worker.role === 'slave').sort((x, y) => y.pid - x.pid)[0]!;
    expect(victim.host).not.toBe('a');
    const crash = await post<number[]>(`${hosts.a!.orchestratorUrl}/api/v1/crash/slave`);
    expect(crash.status).toBe(200);
    expect(crash.body).toEqual([victim.pid]);
    expect(alive(victim.pid)).toBe(false);
    const report = await readAgentReport(zk, cluster, victim.host!);
    expect(report?.exits.some((exit) => exit.workerId === victim.workerId && exit.signal === 'SIGKILL')).toBe(true);
    const after = await until(
      async () => {
        const workers = await settled(hosts.a!, 3);
        return workers.some((worker) => worker.pid === victim.pid) ? undefined : workers;
      },
      30_000,
      'the crashed slave replaced',
    );
    expect(
      after
        .filter((worker) => worker.role === 'slave')
        .map((worker) => worker.host)
        .sort(),
    ).toEqual(['b', 'c']);
  });

  it('the master\u2019s host losing its agent leaves its workers unreachable, not dead; losing the host too, a slave elsewhere takes over', async () => {
    const before = await settled(hosts.a!, 3);
    const master = before.find((worker) => worker.role === 'master')!;
    expect(master.host).toBe('a');
    // Host a's orchestrator (supervisor and agent) goes; its worker stays, as on a host whose agent died.
    await hosts.a!.orchestrator.stop({ leaveWorkers: true });
    await until(() => (hosts.b!.orchestrator.isSupervising || hosts.c!.orchestrator.isSupervising ? true : undefined), 15_000, 'another supervisor');
    const survivor = hosts.b!.orchestrator.isSupervising ? hosts.b! : hosts.c!;
    const write = await post(`${survivor.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'unreachable-master', password } });
    expect(write.status).toBe(200);
    expect((await survivor.orchestrator.workers()).map((worker) => worker.pid)).toContain(master.pid);
    // Now host a is lost with it: its worker dies unseen by any agent; its session expires.
    process.kill(master.pid, 'SIGKILL');
    const after = await until(
      async () => {
        const workers = await placement(survivor);
        const newMaster = workers.find((worker) => worker.role === 'master' && worker.ready);
        return newMaster && newMaster.pid !== master.pid && workers.length === 3 && workers.every((worker) => worker.ready) ? workers : undefined;
      },
      30_000,
      'a master on another host and the slaves back',
    );
    expect(after.every((worker) => worker.host !== 'a')).toBe(true);
    const read = await post<{ rows: { username: string }[] }>(`${survivor.orchestratorUrl}/api/v1/db/read`, { table: 'users' });
    expect(read.status).toBe(200);
    expect(read.body.rows.map((row) => row.username)).toEqual(expect.arrayContaining(['placed', 'unreachable-master']));
  });

  it('every worker lost with the database host gone: a takeover supervisor restarts the master from files on the host whose agent reports the best file', async () => {
    const survivor = hosts.b!.orchestrator.isSupervising ? hosts.b! : hosts.c!;
    const write = await post(`${survivor.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'before-every-worker-died', password } });
    expect(write.status).toBe(200);
    const before = await settled(survivor, 3);
    const committed = (await readCommitRecord(zk, cluster))!;
    for (const worker of before) process.kill(worker.pid, 'SIGKILL');
    // The files the surviving hosts' agents reported while the supervisor chose: once a master is
    // ready again, the supervisor prunes the dead workers' files of its own folder, and its host's
    // next report may hold none.
    const reportedFiles = new Set<string>();
    const restarted = await until(
      async () => {
        for (const host of ['b', 'c']) if ((await readAgentReport(zk, cluster, host).catch(() => undefined))?.bestFile) reportedFiles.add(host);
        const workers = await placement(survivor).catch(() => []);
        const master = workers.find((worker) => worker.role === 'master' && worker.ready && !before.some((old) => old.pid === worker.pid));
        return master;
      },
      45_000,
      'a master restarted from files',
    );
    expect((await readAssignment(zk, cluster, restarted.workerId))?.reason).toBe('restart-from-files');
    // Where the best file was: every surviving host reported one, and the chosen one holds the commit record.
    expect([...reportedFiles].sort()).toEqual(['b', 'c']);
    expect(restarted.host).toMatch(/^[bc]$/);
    expect(restarted.appliedSeq).toBeGreaterThanOrEqual(committed.seq);
    // Reads are served by slaves, which start beside the restarted master: once one is ready.
    const read = await until(
      async () => {
        const answer = await post<{ rows: { username: string }[] }>(`${survivor.orchestratorUrl}/api/v1/db/read`, { table: 'users' });
        return answer.status === 200 ? answer : undefined;
      },
      30_000,
      'a read answered after the restart',
    );
    expect(read.body.rows.map((row) => row.username)).toEqual(expect.arrayContaining(['placed', 'unreachable-master', 'before-every-worker-died']));
  });
});

describe('a slave started while the master\u2019s host was alone', () => {
  const cluster = uniqueClusterName('moves');
  const dirs: string[] = [];
  const hosts: Record<string, DatabaseServiceHandle> = {};
  let zk: ZkClient;
  const secrets = { ZK_AUTH: `rideshare:${randomBytes(16).toString('hex')}`, CLUSTER_KEY: randomBytes(32).toString('hex') };
  const start = async (host: string) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-${host}-`));
    dirs.push(dataDir);
    hosts[host] = await startDatabaseService({ cluster, dataDir, slaves: 1, agentHost: host, env: { ...secrets, LOG_LEVEL: process.env.AGENTS_LOG_LEVEL ?? 'warn' } });
    return hosts[host];
  };

  beforeAll(async () => {
    zk = new ZkClient({ connect: testServers().zkConnect, sessionTimeoutMs: 4000 });
    await zk.connect();
  });
  afterAll(async () => {
    for (const service of Object.values(hosts).reverse()) await service.stop().catch(() => undefined);
    zk?.close();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('moves to a host without the master once that host has an agent: its successor ready there first, the data kept', async () => {
    const a = await start('a');
    const hostsOf = async () => Promise.all((await a.orchestrator.workers()).map(async (worker) => ({ ...worker, host: (await readAssignment(zk, cluster, worker.workerId))?.host })));
    const alone = await hostsOf();
    expect(alone.map((worker) => `${worker.role}@${worker.host}`).sort()).toEqual(['master@a', 'slave@a']);
    const write = await post(`${a.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'before-the-move', password } });
    expect(write.status).toBe(200);
    const slaveBefore = alone.find((worker) => worker.role === 'slave')!;
    await start('b');
    const moved = await until(
      async () => {
        const workers = await hostsOf();
        return workers.length === 2 && workers.every((worker) => worker.ready) && workers.some((worker) => worker.role === 'slave' && worker.host === 'b') ? workers : undefined;
      },
      30_000,
      'the slave moved to host b',
    );
    expect(moved.find((worker) => worker.role === 'master')?.host).toBe('a');
    expect(moved.map((worker) => worker.workerId)).not.toContain(slaveBefore.workerId);
    // Retired: drained and stopped through its host's agent (it leaves the list before its process ends).
    await until(() => (alive(slaveBefore.pid) ? undefined : true), 15_000, 'the moved slave\u2019s process gone');
    // A read is safe to send again: one the retiring slave had taken may time out on a loaded machine.
    const read = await until(
      async () => {
        const answer = await post<{ rows: { username: string }[] }>(`${hosts.b!.orchestratorUrl}/api/v1/db/read`, { table: 'users', where: { username: 'before-the-move' } });
        return answer.status === 200 ? answer : undefined;
      },
      20_000,
      'a read through host b answered',
    );
    expect(read.body.rows.map((row) => row.username)).toEqual(['before-the-move']);
  });

  it('spreads the slaves again: of two slaves on host b, one moves to host c once c has an agent', async () => {
    const a = hosts.a!;
    const hostsOf = async () => Promise.all((await a.orchestrator.workers()).map(async (worker) => ({ ...worker, host: (await readAssignment(zk, cluster, worker.workerId))?.host })));
    await a.orchestrator.supervisor!.setDesiredSlaves(2);
    const piled = await until(
      async () => {
        const workers = await hostsOf();
        return workers.length === 3 && workers.every((worker) => worker.ready) ? workers : undefined;
      },
      30_000,
      'two ready slaves',
    );
    // Host a runs the master, so both slaves are on b.
    expect(piled.map((worker) => `${worker.role}@${worker.host}`).sort()).toEqual(['master@a', 'slave@b', 'slave@b']);
    await start('c');
    const spread = await until(
      async () => {
        const workers = await hostsOf();
        const where = workers.map((worker) => `${worker.role}@${worker.host}`).sort();
        return workers.length === 3 && workers.every((worker) => worker.ready) && where.join() === 'master@a,slave@b,slave@c' ? workers : undefined;
      },
      40_000,
      'a slave each on b and c',
    );
    expect(spread.map((worker) => worker.workerId)).toEqual(expect.arrayContaining(piled.filter((worker) => worker.role === 'master').map((worker) => worker.workerId)));
  });
});
