/**
 * A slave that resumed the sync log through another RabbitMQ node than its own moves back to its
 * own once that node answers again. The two "nodes" are two TCP proxies in front of the run's
 * broker, both named in AMQP_URL (`home,other`, the way a host's processes get their own node
 * first): what is under test is the worker's choice of node, not RabbitMQ's clustering (the bed's
 * rounds show that, test/hosts/bed-faults.test.ts). The home proxy cuts the slave's connection and
 * holds its new ones, as a node that went down would; once it lets them through, the slave moves
 * back: the same process, no new copy, every write made meanwhile applied, nothing left on the
 * other node.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { connectionPorts } from '../../harness/faults/proc.ts';
import { TcpProxy } from '../../harness/faults/tcp-proxy.ts';
import { post } from '../../harness/http.ts';
import { testServers } from '../../harness/inject.ts';
import { readLiveReplicas, until } from '../../harness/replicas.ts';
import { settledWorkers } from '../../harness/workers.ts';
import { HOME_PROBE_MS } from '../../src/dbaas/worker/HomeNodeProbe.ts';
import { SLAVE_RECONNECT_BOUND_MS } from '../../src/dbaas/worker/SlaveReconnection.ts';
import { createLogger } from '../../src/shared/logger.ts';

const password = 'ef'.repeat(20);
const RESUMED = 'resumed the sync log without a new copy';

describe('a slave served through another RabbitMQ node than its own', () => {
  let home: TcpProxy;
  let other: TcpProxy;
  let service: DatabaseServiceHandle;
  let written = 0;

  beforeAll(async () => {
    const broker = new URL(testServers().amqpUrl);
    const through = async (proxy: TcpProxy) => {
      const url = new URL(broker);
      url.port = String(await proxy.start());
      return url.toString();
    };
    home = new TcpProxy({ targetHost: broker.hostname, targetPort: Number(broker.port || 5672) });
    other = new TcpProxy({ targetHost: broker.hostname, targetPort: Number(broker.port || 5672) });
    const amqpUrl = `${await through(home)},${await through(other)}`;
    // The workers log at info: their logs say when a slave resumed, and where.
    service = await startDatabaseService({ slaves: 2, amqpUrl, env: { LOG_LEVEL: 'info' }, logger: createLogger('test-orchestrator', process.env.TEST_LOG_LEVEL ?? 'warn') });
  });
  afterAll(async () => {
    await service?.stop();
    await home?.stop();
    await other?.stop();
  });

  async function write(): Promise<number> {
    written += 1;
    const answer = await post<{ seq: number }>(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: `home-${written}`, password } });
    expect(answer.status).toBe(200);
    return answer.body.seq;
  }

  function linesSaying(workerId: string, text: string): number {
    return fs
      .readFileSync(path.join(service.dataDir, 'logs', `${workerId}.log`), 'utf8')
      .split('\n')
      .filter((line) => line.includes(text)).length;
  }

  it('moves back to its own node once it answers, and resumes the sync log there', async () => {
    const before = await settledWorkers(service, 3);
    const slave = before.find((worker) => worker.role === 'slave')!;
    expect(connectionPorts(slave.pid, home.port).length).toBeGreaterThan(0);
    expect(connectionPorts(slave.pid, other.port)).toEqual([]);
    const resumed = linesSaying(slave.workerId, RESUMED);
    let writing = true;
    const seqs: number[] = [];
    const writer = (async () => {
      while (writing) seqs.push(await write());
    })();
    try {
      await until(() => seqs.length >= 5 || undefined, 15_000, 'writes under way');
      // Its own node "goes down" for this slave: its link reset, every new one held unanswered.
      home.pauseNewLinks((port) => connectionPorts(slave.pid, home.port).includes(port));
      expect(home.cut(connectionPorts(slave.pid, home.port))).toBeGreaterThan(0);
      await until(() => linesSaying(slave.workerId, RESUMED) > resumed || undefined, SLAVE_RECONNECT_BOUND_MS + 5000, 'the slave to resume through the other node');
      expect(connectionPorts(slave.pid, other.port).length).toBeGreaterThan(0);
      expect(linesSaying(slave.workerId, 'serving through another RabbitMQ node')).toBeGreaterThan(0);
      const away = seqs.length;
      await until(() => seqs.length >= away + 5 || undefined, 15_000, 'writes while the slave is on the other node');
      // Its own node is back.
      const backAt = performance.now();
      home.pauseNewLinks(undefined);
      home.heal();
      await until(() => linesSaying(slave.workerId, RESUMED) > resumed + 1 || undefined, HOME_PROBE_MS + 5000 + SLAVE_RECONNECT_BOUND_MS, 'the slave to move back to its own node');
      console.log(`the slave moved back to its own node ${Math.round(performance.now() - backAt)} ms after it answered again`);
      expect(linesSaying(slave.workerId, 'moving back to resume the sync log there')).toBe(1);
      await until(() => (connectionPorts(slave.pid, other.port).length === 0 ? true : undefined), 5000, 'no connection of the slave left on the other node');
      expect(connectionPorts(slave.pid, home.port).length).toBeGreaterThan(0);
      const back = seqs.length;
      await until(() => seqs.length >= back + 5 || undefined, 15_000, 'writes after the move');
    } finally {
      writing = false;
      await writer;
    }
    // The same slave, ready again, that copied a snapshot only when it started.
    const after = await settledWorkers(service, 3);
    expect(after.find((worker) => worker.workerId === slave.workerId)?.pid).toBe(slave.pid);
    expect(linesSaying(slave.workerId, 'caught up; serving reads')).toBe(1);
    const top = Math.max(...seqs);
    const ids = after.map((worker) => worker.workerId);
    const replicas = await until(
      () => {
        const all = readLiveReplicas(service.dataDir, ids);
        return all.length === 3 && all.every((replica) => replica.appliedSeq >= top) && new Set(all.map((replica) => replica.checksum)).size === 1 ? all : undefined;
      },
      15_000,
      `three replicas at seq ${top} or later, all the same`,
    );
    expect(replicas.map((replica) => replica.workerId).sort()).toEqual(ids.sort());
  });
});
