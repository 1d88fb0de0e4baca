/**
 * Fencing by ZooKeeper's epoch check in a running cluster: the master's commit record follows its
 * writes; a master whose epoch is bumped behind its back (as a successor's lease does) exits and
 * the cluster heals with every acknowledged write on every replica; and a promotion no longer
 * waits on the runtime's kill of the old master.
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeClusterTopology, startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { post } from '../../harness/http.ts';
import { readLiveReplicas, until } from '../../harness/replicas.ts';
import { settledWorkers } from '../../harness/workers.ts';
import { readCommitRecord } from '../../src/dbaas/coordination/commit-record.ts';
import { countRecord } from '../../src/dbaas/coordination/records.ts';
import { readWorker } from '../../src/dbaas/coordination/worker-registry.ts';
import { ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';
import { clusterPaths } from '../../src/dbaas/protocol/names.ts';
import { ProcessRuntime } from '../../src/dbaas/runtime/ProcessRuntime.ts';
import { workerDbFile, workersDirOf } from '../../src/dbaas/worker/files.ts';
import { RideShareError } from '../../src/shared/errors.ts';
import { createLogger } from '../../src/shared/logger.ts';

const password = 'ef'.repeat(20);
const logLevel = process.env.TEST_LOG_LEVEL ?? 'warn';

interface Acknowledged {
  username: string;
  seq: number;
  epoch: number;
}

function usernamesIn(service: DatabaseServiceHandle, workerId: string): Set<string> {
  const db = new Database(workerDbFile(workersDirOf(service.dataDir), workerId), { readonly: true, fileMustExist: true });
  try {
    return new Set((db.prepare('SELECT username FROM users').all() as { username: string }[]).map((row) => row.username));
  } finally {
    db.close();
  }
}

describe('a master fenced by a bump of /epoch', () => {
  let service: DatabaseServiceHandle;
  let zk: ZkClient;
  const url = (path: string) => `${service.orchestratorUrl}${path}`;
  const write = (username: string) => post<Acknowledged>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username, password } }, { timeoutMs: 15_000 });

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 2, env: { LOG_LEVEL: logLevel } });
    zk = new ZkClient({ connect: service.zkConnect, sessionTimeoutMs: 4000, credentials: service.zkAuth });
    await zk.connect();
  });
  afterAll(async () => {
    zk?.close();
    await service?.stop();
  });

  it('the commit record follows the writes: the master’s epoch and applied seq', async () => {
    const workers = await settledWorkers(service, 3);
    const master = workers.find((worker) => worker.role === 'master');
    let last: Acknowledged | undefined;
    for (let i = 0; i < 5; i += 1) {
      const answer = await write(`recorded-${i}`);
      expect(answer.status).toBe(200);
      last = { ...answer.body, username: `recorded-${i}` };
    }
    expect(await readCommitRecord(zk, service.cluster)).toEqual({ epoch: last?.epoch, seq: last?.seq });
    expect(last?.epoch).toBe(master?.epoch);
    // The master publishes its applied seq every half second: the record is exactly there.
    await until(async () => (await readWorker(zk, service.cluster, master?.workerId ?? ''))?.appliedSeq === last?.seq, 5000, 'the master’s published seq at the record');
  });

  it('answers nothing more and exits; the cluster heals and every acknowledged write is on every replica', async () => {
    const before = await settledWorkers(service, 3);
    const master = before.find((worker) => worker.role === 'master');
    if (!master) throw new RideShareError('INVARIANT', 'no master');
    const acknowledged: Acknowledged[] = [];
    let writing = true;
    const lanes = Array.from({ length: 4 }, async (_, lane) => {
      for (let n = 0; writing; n += 1) {
        const username = `fence-${lane}-${n}`;
        const answer = await write(username).catch(() => undefined);
        if (answer?.status === 200) acknowledged.push({ ...answer.body, username });
      }
    });
    try {
      await until(() => acknowledged.length >= 20, 15_000, 'writes acknowledged before the bump');
      // What a successor's lease does first: the next epoch, by compare-and-set on /epoch.
      const epochPath = clusterPaths(service.cluster).epoch;
      const epochNode = await zk.readNode(epochPath, countRecord);
      await zk.setData(epochPath, (epochNode.data ?? 0) + 1, epochNode.version);
      const fencedAt = await readCommitRecord(zk, service.cluster);
      await until(() => !service.runtime.list().some((worker) => worker.pid === master.pid), 15_000, 'the fenced master to exit');
      // No record of the old epoch was written after the bump: nothing more of it was answered.
      const after = await settledWorkers(service, 3, master.pid);
      const successor = after.find((worker) => worker.role === 'master');
      expect(successor?.epoch).toBeGreaterThan((epochNode.data ?? 0) + 1);
      await until(() => acknowledged.some((write) => write.epoch === successor?.epoch), 30_000, 'a write acknowledged by the successor');
      expect(fencedAt?.epoch).toBe(master.epoch);
    } finally {
      writing = false;
      await Promise.all(lanes);
    }
    const workers = await settledWorkers(service, 3);
    const lastSeq = Math.max(...acknowledged.map((write) => write.seq));
    await until(
      () => {
        const replicas = readLiveReplicas(
          service.dataDir,
          workers.map((worker) => worker.workerId),
        );
        return replicas.length === 3 && replicas.every((replica) => replica.appliedSeq >= lastSeq);
      },
      15_000,
      'every replica at the last acknowledged write',
    );
    for (const worker of workers) {
      const stored = usernamesIn(service, worker.workerId);
      const missing = acknowledged.filter((write) => !stored.has(write.username));
      expect(missing, `acknowledged writes missing on ${worker.workerId}`).toEqual([]);
    }
  });
});

/** Local worker processes, except that the kill of the workers named in `unkillable` fails, as a runtime's does when the host is out of reach. */
class RuntimeWithFailingKill extends ProcessRuntime {
  readonly unkillable = new Set<string>();
  readonly refusedKills: string[] = [];

  override async kill(workerId: string, signal?: NodeJS.Signals): Promise<void> {
    if (this.unkillable.has(workerId)) {
      this.refusedKills.push(workerId);
      throw new RideShareError('UNAVAILABLE', `the host of ${workerId} is out of reach`);
    }
    return super.kill(workerId, signal);
  }
}

describe('a promotion when the runtime cannot kill the old master', () => {
  let service: DatabaseServiceHandle;
  let runtime: RuntimeWithFailingKill;
  const cluster = uniqueClusterName('unkillable');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));

  beforeAll(async () => {
    runtime = new RuntimeWithFailingKill({ cluster, logDir: path.join(dataDir, 'logs'), logger: createLogger('test-runtime', 'silent') });
    service = await startDatabaseService({ cluster, dataDir, runtime, slaves: 2, env: { LOG_LEVEL: logLevel } });
  });
  afterAll(async () => {
    await service?.stop();
    if (service) await removeClusterTopology(service.amqpUrl, cluster);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('promotes a successor while the frozen old master is still there, and the successor serves writes', async () => {
    const before = await settledWorkers(service, 3);
    const master = before.find((worker) => worker.role === 'master');
    if (!master) throw new RideShareError('INVARIANT', 'no master');
    runtime.unkillable.add(master.workerId);
    process.kill(master.pid, 'SIGSTOP');
    try {
      const successor = await until(
        async () => (await service.orchestrator.workers()).find((worker) => worker.role === 'master' && worker.ready && worker.workerId !== master.workerId),
        30_000,
        'a new master',
      );
      expect(runtime.refusedKills).toContain(master.workerId);
      // The old process still exists, frozen: the promotion did not wait for it to be gone.
      expect(runtime.list().some((worker) => worker.pid === master.pid)).toBe(true);
      // writeQ's consumer moves on once the broker drops the frozen master's connection (its heartbeat).
      const answer = await until(
        async () => {
          const attempt = await post<Acknowledged>(
            `${service.orchestratorUrl}/api/v1/db/write`,
            { op: 'insert', table: 'users', values: { username: 'after-unkillable', password } },
            { timeoutMs: 15_000 },
          );
          return attempt.status === 200 ? attempt.body : undefined;
        },
        60_000,
        'a write acknowledged by the successor',
      );
      expect(answer.epoch).toBe(successor.epoch);
    } finally {
      runtime.unkillable.delete(master.workerId);
      try {
        process.kill(master.pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    await until(() => !runtime.list().some((worker) => worker.pid === master.pid), 10_000, 'the old master gone');
  });
});
