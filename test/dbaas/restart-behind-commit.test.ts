/**
 * A restart from files never starts a master from a file behind ZooKeeper's commit record: every
 * worker killed with the most advanced file replaced by an older copy, no master starts, the
 * refusal says which writes are missing, and the cluster answers 503 rather than serve without
 * them; the good file put back, it heals by itself with every acknowledged write. An operator's
 * give-up record releases the refusal it names. The ordinary kill-all restart reaches the record.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import os from 'node:os';
import { removeClusterTopology, startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { countNumberedUsers, writeNumberedUsers } from '../../harness/numbered-users.ts';
import { post, request } from '../../harness/http.ts';
import { staysTrue, until } from '../../harness/replicas.ts';
import { settledWorkers } from '../../harness/workers.ts';
import { readCommitRecord, type CommitRecord } from '../../src/dbaas/coordination/commit-record.ts';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';
import { givenUpWritesPath } from '../../src/dbaas/supervisor/given-up-writes.ts';
import { workerDbFile, workersDirOf } from '../../src/dbaas/worker/files.ts';
import { copyDatabaseFile } from '../../src/dbaas/worker/recovery.ts';
import { createLogger } from '../../src/shared/logger.ts';

const REFUSAL = 'refusing to restart the cluster from files';

interface LogLine {
  msg?: string;
  err?: { message?: string };
}

/** A service whose orchestrator's log lines the test can read. */
async function startCapturedService(where: { cluster?: string; dataDir?: string } = {}): Promise<{ service: DatabaseServiceHandle; lines: LogLine[] }> {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const service = await startDatabaseService({ ...where, slaves: 1, env: { RPC_TIMEOUT_MS: '2000' }, logger: createLogger('restart-behind-commit-test', 'warn', stream) });
  return { service, lines };
}

function removeEveryFile(dir: string): void {
  for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { force: true });
}

function killAll(workers: readonly WorkerInfo[]): void {
  for (const worker of workers) process.kill(worker.pid, 'SIGKILL');
}

describe('a restart from files and the commit record', () => {
  const services: DatabaseServiceHandle[] = [];
  const clients: ZkClient[] = [];
  /** Clusters named here, on data folders made here: the harness leaves their queues and folders to the test. */
  const named: { amqpUrl: string; cluster: string; dataDir: string }[] = [];

  async function zkOf(service: DatabaseServiceHandle): Promise<ZkClient> {
    const zk = new ZkClient({ connect: service.zkConnect, sessionTimeoutMs: 4000, credentials: service.zkAuth });
    clients.push(zk);
    await zk.connect();
    return zk;
  }

  afterEach(async () => {
    for (const zk of clients.splice(0)) zk.close();
    for (const service of services.splice(0).reverse()) await service.stop();
    for (const { amqpUrl, cluster, dataDir } of named.splice(0)) {
      await removeClusterTopology(amqpUrl, cluster);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  /**
   * 20 users written, an older copy of the master's file taken, 20 more written; then every file
   * of the workers' folder goes (the running workers keep theirs open), the older copy alone is
   * put there, and every worker is killed. Returns what ZooKeeper recorded and a copy of the good file.
   */
  async function loseTheNewestFile(prefix: string) {
    const { service, lines } = await startCapturedService();
    services.push(service);
    const zk = await zkOf(service);
    const workersDir = workersDirOf(service.dataDir);
    const kept = path.join(service.dataDir, 'kept');
    fs.mkdirSync(kept);
    await writeNumberedUsers(service, prefix, 0, 20);
    const workers = await settledWorkers(service, 2);
    const master = workers.find((worker) => worker.role === 'master')!;
    await copyDatabaseFile(workerDbFile(workersDir, master.workerId), path.join(kept, 'older.db'));
    const lastSeq = await writeNumberedUsers(service, prefix, 20, 40);
    const committed = (await readCommitRecord(zk, service.cluster))!;
    expect(committed.seq).toBe(lastSeq);
    await copyDatabaseFile(workerDbFile(workersDir, master.workerId), path.join(kept, 'good.db'));
    removeEveryFile(workersDir);
    killAll(workers);
    // Only now: while a ready master runs, the supervisor prunes files no running worker owns.
    await copyDatabaseFile(path.join(kept, 'older.db'), path.join(workersDir, 'older-copy.db'));
    return { service, lines, zk, workers, committed, kept, workersDir };
  }

  /** The refusal naming the older copy's missing seqs (a first one may find no file yet: the copy comes after the kill). */
  async function refusalLogged(lines: LogLine[], committed: CommitRecord): Promise<string> {
    const missing = `lacks the acknowledged writes of seqs ${committed.seq - 19}..${committed.seq}`;
    return until(() => lines.map((line) => line.err?.message ?? '').find((message) => message.includes(REFUSAL) && message.includes(missing)), 30_000, 'the refusal in the log');
  }

  it('refuses a master from a file behind the commit record, answers 503, and heals once the good file is back', async () => {
    const { service, lines, zk, workers, committed, kept, workersDir } = await loseTheNewestFile('behind');
    const refusal = await refusalLogged(lines, committed);
    expect(refusal).toContain(givenUpWritesPath(service.dataDir));
    await staysTrue(async () => (await service.orchestrator.workers()).length === 0, 2_000, 'no worker started from the older file');
    // The orchestrator's readiness says why.
    const ready = await request<{ status: string; reason: string }>('GET', `${service.orchestratorUrl}/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body.reason).toContain(`lacks the acknowledged writes of seqs ${committed.seq - 19}..${committed.seq}`);
    // Nothing is served without the missing writes: a read is a 503, never 20 users.
    const read = await post(`${service.orchestratorUrl}/api/v1/db/read`, { table: 'users', count: true, where: { username: { gte: 'behind-', lt: 'behind.' } } });
    expect(read.status).toBe(503);
    // The record still names the missing writes: no master overwrote it.
    expect(await readCommitRecord(zk, service.cluster)).toEqual(committed);
    await copyDatabaseFile(path.join(kept, 'good.db'), path.join(workersDir, 'good-copy.db'));
    await settledWorkers(service, 2, workers[0]!.pid);
    expect(await countNumberedUsers(service, 'behind')).toBe(40);
    expect((await request('GET', `${service.orchestratorUrl}/ready`)).status).toBe(200);
    const after = (await readCommitRecord(zk, service.cluster)) as CommitRecord;
    expect(after.epoch).toBeGreaterThan(committed.epoch);
    expect(after.seq).toBeGreaterThanOrEqual(committed.seq);
  });

  it('restarts from the older file once the operator gives up exactly the writes the refusal named', async () => {
    const { service, lines, workers, committed } = await loseTheNewestFile('given-up');
    await refusalLogged(lines, committed);
    const giveUp = givenUpWritesPath(service.dataDir);
    // A record of another commit releases nothing.
    fs.writeFileSync(giveUp, JSON.stringify({ epoch: committed.epoch, seq: committed.seq - 1 }));
    // No master: a killed worker's registration may linger a moment, and a slave may be tried meanwhile.
    await staysTrue(async () => !(await service.orchestrator.workers()).some((worker) => worker.role === 'master'), 2_000, 'no master for a record of another commit');
    fs.writeFileSync(giveUp, JSON.stringify({ epoch: committed.epoch, seq: committed.seq }));
    await settledWorkers(service, 2, workers[0]!.pid);
    expect(await countNumberedUsers(service, 'given-up')).toBe(20);
    expect(fs.existsSync(giveUp)).toBe(false);
  });

  it('a cold start on a file behind the commit record brings the orchestrator up answering 503, and heals once the good file is back', async () => {
    const cluster = uniqueClusterName('cold-behind');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));
    const { service: first } = await startCapturedService({ cluster, dataDir });
    named.push({ amqpUrl: first.amqpUrl, cluster, dataDir });
    services.push(first);
    const zk = await zkOf(first);
    const workersDir = workersDirOf(dataDir);
    const kept = path.join(dataDir, 'kept');
    fs.mkdirSync(kept);
    await writeNumberedUsers(first, 'cold', 0, 20);
    const master = (await settledWorkers(first, 2)).find((worker) => worker.role === 'master')!;
    await copyDatabaseFile(workerDbFile(workersDir, master.workerId), path.join(kept, 'older.db'));
    await writeNumberedUsers(first, 'cold', 20, 40);
    const committed = (await readCommitRecord(zk, cluster))!;
    // The whole system stopped: the workers' files stay, and the newest is then lost.
    await first.stop();
    services.splice(services.indexOf(first), 1);
    await copyDatabaseFile(workerDbFile(workersDir, master.workerId), path.join(kept, 'good.db'));
    removeEveryFile(workersDir);
    await copyDatabaseFile(path.join(kept, 'older.db'), path.join(workersDir, 'older-copy.db'));
    const { service: second, lines } = await startCapturedService({ cluster, dataDir });
    services.push(second);
    await refusalLogged(lines, committed);
    expect(await second.orchestrator.workers()).toEqual([]);
    const read = await post(`${second.orchestratorUrl}/api/v1/db/read`, { table: 'users', count: true, where: { username: { gte: 'cold-', lt: 'cold.' } } });
    expect(read.status).toBe(503);
    await copyDatabaseFile(path.join(kept, 'good.db'), path.join(workersDir, 'good-copy.db'));
    await settledWorkers(second, 2);
    expect(await countNumberedUsers(second, 'cold')).toBe(40);
  });

  it('the ordinary kill-all restart reaches the commit record and keeps every acknowledged write', async () => {
    const { service } = await startCapturedService();
    services.push(service);
    const zk = await zkOf(service);
    const lastSeq = await writeNumberedUsers(service, 'reached', 0, 30);
    const committed = (await readCommitRecord(zk, service.cluster))!;
    expect(committed.seq).toBe(lastSeq);
    const workers = await settledWorkers(service, 2);
    killAll(workers);
    await settledWorkers(service, 2, workers[0]!.pid);
    expect(await countNumberedUsers(service, 'reached')).toBe(30);
    const after = (await readCommitRecord(zk, service.cluster))!;
    expect(after.epoch).toBeGreaterThan(committed.epoch);
    expect(after.seq).toBe(committed.seq);
  });
});
