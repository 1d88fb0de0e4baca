/**
 * A worker whose RabbitMQ connection the broker closes (`rabbitmqctl close_connection` on a
 * private node of this file's own, which every process reaches through the test's TCP proxy). A
 * slave reconnects and reads the sync log on from its own offset: same worker, same process, no
 * snapshot copied, every write made meanwhile applied, and readQ served again; while it cannot
 * come back (the proxy holds its new connections) it is registered not ready and serves no
 * reads, and past the bound it stops and is replaced. A master stops (writeQ's single active
 * consumer must move) and a slave is promoted in its place.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { connectionPorts, isAlive } from '../../harness/faults/proc.ts';
import { RABBITMQCTL } from '../../harness/faults/resource-faults.ts';
import { RestartableServer } from '../../harness/faults/servers.ts';
import { TcpProxy } from '../../harness/faults/tcp-proxy.ts';
import { post } from '../../harness/http.ts';
import { readLiveReplicas, until } from '../../harness/replicas.ts';
import { settledWorkers } from '../../harness/workers.ts';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { clusterNames } from '../../src/dbaas/protocol/names.ts';
import { SLAVE_RECONNECT_BOUND_MS } from '../../src/dbaas/worker/SlaveReconnection.ts';
import { createLogger } from '../../src/shared/logger.ts';

const password = 'cd'.repeat(20);

describe('a worker whose RabbitMQ connection the broker closes', () => {
  let root: string;
  let rabbit: RestartableServer;
  let proxy: TcpProxy;
  let service: DatabaseServiceHandle;
  const url = (route: string) => `${service.orchestratorUrl}${route}`;
  let written = 0;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-connection-loss-'));
    rabbit = await RestartableServer.rabbitMq(path.join(root, 'rabbitmq'));
    await rabbit.start();
    proxy = new TcpProxy({ targetPort: rabbit.port });
    const throughProxy = new URL(rabbit.address);
    throughProxy.port = String(await proxy.start());
    // The workers log at info: their logs say whether a slave copied a snapshot or resumed.
    service = await startDatabaseService({
      slaves: 2,
      amqpUrl: throughProxy.toString(),
      env: { LOG_LEVEL: 'info' },
      logger: createLogger('test-orchestrator', process.env.TEST_LOG_LEVEL ?? 'warn'),
    });
  });
  afterAll(async () => {
    await service?.stop();
    await proxy?.stop();
    await rabbit?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  /** One acknowledged insert; its seq. */
  async function write(): Promise<number> {
    written += 1;
    const answer = await post<{ seq: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: `loss-${written}`, password } });
    expect(answer.status).toBe(200);
    return answer.body.seq;
  }

  /** Closes every connection of `pid` from the broker's side; how many there were. */
  async function closeConnectionsOf(pid: number): Promise<number> {
    // The broker sees the proxy's side of each link as its peer.
    const clientPorts = connectionPorts(pid, proxy.port);
    const ports = new Set(
      proxy
        .list()
        .filter((link) => clientPorts.includes(link.clientPort))
        .map((link) => link.serverPort),
    );
    // Tab-separated: the JSON formatter writes pids as #PID<...>, which close_connection does not take.
    const listed = await rabbit.control(RABBITMQCTL, ['list_connections', 'pid', 'peer_port', '-q', '--no-table-headers']);
    const own = listed
      .split('\n')
      .map((line) => line.trim().split('\t'))
      .filter(([pid, port]) => pid?.startsWith('<') && ports.has(Number(port)))
      .map(([pid]) => pid as string);
    for (const connection of own) await rabbit.control(RABBITMQCTL, ['close_connection', connection, 'closed by a test']);
    return own.length;
  }

  async function readQConsumers(): Promise<number> {
    const queues = JSON.parse(await rabbit.control(RABBITMQCTL, ['list_queues', '-p', 'rideshare', 'name', 'consumers', '--formatter', 'json', '-q'])) as { name: string; consumers: number }[];
    return queues.find((queue) => queue.name === clusterNames(service.cluster).readQ)?.consumers ?? 0;
  }

  function logOf(workerId: string): string {
    return fs.readFileSync(path.join(service.dataDir, 'logs', `${workerId}.log`), 'utf8');
  }

  function linesSaying(workerId: string, text: string): number {
    return logOf(workerId)
      .split('\n')
      .filter((line) => line.includes(text)).length;
  }

  /** Every live replica at `seq` at least, and all of them the same. */
  async function replicasAgreeAt(seq: number): Promise<void> {
    const ids = (await service.orchestrator.workers()).map((worker) => worker.workerId);
    const replicas = await until(
      () => {
        const all = readLiveReplicas(service.dataDir, ids);
        const top = Math.max(...all.map((replica) => replica.appliedSeq));
        return all.length === 3 && top >= seq && all.every((replica) => replica.appliedSeq === top) ? all : undefined;
      },
      15_000,
      `three replicas at seq ${seq} or later, all at one seq`,
    );
    const [first, ...others] = replicas;
    for (const replica of others) {
      expect(replica.checksum, `${replica.workerId} against ${first?.workerId}`).toBe(first?.checksum);
      expect([...replica.order].sort(), `${replica.workerId}'s applied requests`).toEqual([...(first?.order ?? [])].sort());
    }
  }

  /** Runs `during` while a client writes one insert after another; the seqs acknowledged. */
  async function writingDuring(during: (seqs: number[]) => Promise<void>): Promise<number[]> {
    let writing = true;
    const seqs: number[] = [];
    const writer = (async () => {
      while (writing) seqs.push(await write());
    })();
    try {
      await until(() => seqs.length >= 5 || undefined, 15_000, 'writes under way');
      await during(seqs);
      const now = seqs.length;
      await until(() => seqs.length >= now + 5 || undefined, 15_000, 'more writes');
    } finally {
      writing = false;
      await writer;
    }
    return seqs;
  }

  /** New connections of `pid` through the proxy are held without an answer (until `release`). */
  function holdNewConnectionsOf(pid: number): void {
    proxy.pauseNewLinks((port) => connectionPorts(pid, proxy.port).includes(port));
  }

  function release(): void {
    proxy.pauseNewLinks(undefined);
    proxy.heal();
  }

  /** The slave came back in the same process, nobody was replaced, and it copied a snapshot only when it started. */
  async function cameBack(before: WorkerInfo[], slave: WorkerInfo): Promise<void> {
    const after = await settledWorkers(service, 3);
    expect(after.map((worker) => worker.workerId).sort()).toEqual(before.map((worker) => worker.workerId).sort());
    expect(after.find((worker) => worker.workerId === slave.workerId)?.pid).toBe(slave.pid);
    expect(linesSaying(slave.workerId, 'caught up; serving reads')).toBe(1);
    await until(async () => (await readQConsumers()) === 2 || undefined, 10_000, 'both slaves consuming readQ');
  }

  it('a slave reconnects and resumes the sync log where it was, without a new copy', async () => {
    const before = await settledWorkers(service, 3);
    for (let i = 0; i < 10; i += 1) await write();
    const slave = before.find((worker) => worker.role === 'slave')!;
    const resumed = linesSaying(slave.workerId, 'resumed the sync log without a new copy');
    const seqs = await writingDuring(async () => {
      expect(await closeConnectionsOf(slave.pid)).toBe(1);
      await until(() => linesSaying(slave.workerId, 'resumed the sync log without a new copy') > resumed || undefined, 20_000, 'the slave to resume');
    });
    await cameBack(before, slave);
    await replicasAgreeAt(Math.max(...seqs));
  });

  it('a slave kept away is not ready and serves no reads meanwhile, then resumes', async () => {
    const before = await settledWorkers(service, 3);
    const slave = before.find((worker) => worker.role === 'slave')!;
    const resumed = linesSaying(slave.workerId, 'resumed the sync log without a new copy');
    const seqs = await writingDuring(async () => {
      holdNewConnectionsOf(slave.pid);
      try {
        expect(await closeConnectionsOf(slave.pid)).toBe(1);
        // Each attempt waits out its connect timeout (5 s) against the held link: time to look.
        await until(
          async () => (await service.orchestrator.workers()).find((worker) => worker.workerId === slave.workerId && worker.pid === slave.pid && !worker.ready),
          10_000,
          'the slave registered not ready',
        );
        await until(async () => (await readQConsumers()) === 1 || undefined, 5000, 'readQ consumed by the other slave only');
      } finally {
        release();
      }
      await until(() => linesSaying(slave.workerId, 'resumed the sync log without a new copy') > resumed || undefined, SLAVE_RECONNECT_BOUND_MS + 5000, 'the slave to resume');
    });
    await cameBack(before, slave);
    await replicasAgreeAt(Math.max(...seqs));
  });

  it('a slave that cannot come back within the bound stops, and a new one replaces it', async () => {
    const before = await settledWorkers(service, 3);
    const slave = before.find((worker) => worker.role === 'slave')!;
    holdNewConnectionsOf(slave.pid);
    let stoppedAfterMs: number;
    try {
      expect(await closeConnectionsOf(slave.pid)).toBe(1);
      const closedAt = performance.now();
      await until(() => !isAlive(slave.pid) || undefined, SLAVE_RECONNECT_BOUND_MS + 10_000, `the slave (pid ${slave.pid}) to stop`);
      stoppedAfterMs = performance.now() - closedAt;
    } finally {
      release();
    }
    // It tried for the whole bound (its log, which would say so, goes with the dead worker's files).
    expect(stoppedAfterMs).toBeGreaterThanOrEqual(SLAVE_RECONNECT_BOUND_MS - 500);
    const after = await settledWorkers(service, 3, slave.pid);
    expect(after.map((worker) => worker.workerId)).not.toContain(slave.workerId);
    await replicasAgreeAt(await write());
  });

  it('a master stops, and a slave is promoted in its place', async () => {
    const before = await settledWorkers(service, 3);
    const master = before.find((worker) => worker.role === 'master')!;
    expect(await closeConnectionsOf(master.pid)).toBeGreaterThan(0);
    await until(
      async () => {
        const current = (await service.orchestrator.workers()).find((worker) => worker.role === 'master' && worker.ready);
        return current !== undefined && current.workerId !== master.workerId ? current : undefined;
      },
      30_000,
      'a new master',
    );
    await until(() => !isAlive(master.pid) || undefined, 15_000, `the old master (pid ${master.pid}) to exit`);
    const seq = await write();
    await settledWorkers(service, 3, master.pid);
    await replicasAgreeAt(seq);
  });
});
