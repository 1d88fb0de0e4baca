/**
 * Safety that does not rest on killing the old master: the broker refuses a fenced epoch's
 * publishes, a replica never skips a seq on trust, and a write is never applied after its deadline.
 */
import { TIME_BUDGET_HEADER } from '../../src/shared/http/time-budget.ts';
import { sleep } from '../../src/shared/timeout.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import amqp, { type ChannelModel } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encode, PROTOCOL_VERSION } from '../../src/dbaas/protocol/messages.ts';
import type { SyncWrite } from '../../src/dbaas/protocol/sync.ts';
import { clusterNames } from '../../src/dbaas/protocol/names.ts';
import { SYNC_LOG_DECLARATION } from '../../src/dbaas/transport/topology.ts';
import { SyncFollower } from '../../src/dbaas/replication/SyncFollower.ts';
import { SyncPublisher } from '../../src/dbaas/replication/SyncPublisher.ts';
import { Store } from '../../src/dbaas/worker/Store.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { post } from '../../harness/http.ts';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';
import { testSigner } from '../../harness/signing.ts';
import { settledWorkers } from '../../harness/workers.ts';

const logger = createLogger('test', 'silent');
const password = 'a'.repeat(40);

function userWrite(seq: number, epoch: number, username: string, requestId = randomUUID()): SyncWrite {
  return {
    v: PROTOCOL_VERSION,
    kind: 'write',
    epoch,
    seq,
    requestId,
    write: { op: 'insert', table: 'users', values: { username, password } },
    result: { changes: 1, seq, epoch },
  };
}

describe('a replica following the sync stream', () => {
  const names = clusterNames(uniqueClusterName('follow'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-follow-'));
  let connection: ChannelModel;
  let store: Store;
  let follower: SyncFollower;
  const broken: string[] = [];

  beforeAll(async () => {
    connection = await amqp.connect(testServers().amqpUrl);
    const setup = await connection.createChannel();
    await setup.assertExchange(names.syncExchange, 'fanout', { durable: false, autoDelete: false });
    await setup.assertQueue(names.syncLog, SYNC_LOG_DECLARATION);
    await setup.bindQueue(names.syncLog, names.syncExchange, '');
    await setup.close();
    store = new Store(path.join(dir, 'replica.db'));
    follower = new SyncFollower(await connection.createChannel(), names.syncLog, testSigner, logger);
    follower.on('broken', (reason) => broken.push(reason));
    await follower.attach();
    follower.start(store);
  });
  afterAll(async () => {
    const cleanup = await connection.createChannel();
    await cleanup.deleteQueue(names.syncLog);
    await cleanup.deleteExchange(names.syncExchange);
    for (const epoch of [1, 2]) await cleanup.deleteExchange(names.syncEpochExchange(epoch));
    await connection.close();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function publisherOf(epoch: number): Promise<{ publisher: SyncPublisher }> {
    const channel = await connection.createConfirmChannel();
    await channel.assertExchange(names.syncEpochExchange(epoch), 'fanout', { durable: true });
    await channel.bindExchange(names.syncExchange, names.syncEpochExchange(epoch), '');
    return { publisher: new SyncPublisher(channel, names, epoch, `master-${epoch}`, testSigner.as('master')) };
  }

  it('applies in order, ignores a late frame of a fenced epoch, and stops on a seq held with another request id', async () => {
    const one = await publisherOf(1);
    await one.publisher.publish([userWrite(1, 1, 'first')]);
    await until(() => (store.appliedSeq === 1 ? true : undefined), 5000, 'seq 1 applied');

    // Epoch 2 begins at seq 1; a frame of epoch 1 that arrives afterwards must not be applied.
    const two = await publisherOf(2);
    await two.publisher.mark(1);
    await one.publisher.publish([userWrite(2, 1, 'late-frame')]);
    const accepted = userWrite(2, 2, 'second');
    await two.publisher.publish([accepted]);
    await until(() => (store.appliedSeq === 2 ? true : undefined), 5000, 'seq 2 applied');
    expect(store.read({ table: 'users', columns: ['username'], orderBy: [{ column: 'username', direction: 'asc' }] })).toEqual([{ username: 'first' }, { username: 'second' }]);
    expect(store.epoch).toBe(2);

    // The same seq again with its own request id is a duplicate; with another one, a divergence.
    await two.publisher.publish([accepted]);
    await two.publisher.publish([userWrite(2, 2, 'impostor')]);
    await until(() => (broken.length > 0 ? true : undefined), 5000, 'the follower to stop');
    expect(broken[0]).toMatch(/diverged at seq 2/);
    expect(store.appliedSeq).toBe(2);
  });
  // A signed message that is not one of this protocol (a master of another version) stops a
  // replica loudly rather than being skipped: test/dbaas/sync-marks.test.ts.
});

describe('fencing and deadlines on a running cluster', () => {
  let service: DatabaseServiceHandle;
  const url = (p: string) => `${service.orchestratorUrl}${p}`;
  const stopped: number[] = [];

  beforeAll(async () => {
    // A session long enough that a master frozen for a second is not replaced: the deadline alone must hold.
    service = await startDatabaseService({ slaves: 1, env: { ZK_SESSION_TIMEOUT_MS: '4000', RPC_TIMEOUT_MS: '800' } });
    await settledWorkers(service, 2);
  });
  afterEach(() => {
    for (const pid of stopped.splice(0)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone already
      }
    }
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('after a failover, a publish of the old epoch is refused by the broker, never confirmed', async () => {
    const first = await post<{ epoch: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'before-failover', password } });
    expect(first.status).toBe(200);
    const oldEpoch = first.body.epoch;
    expect((await post(url('/api/v1/crash/master'))).status).toBe(200);
    const next = await until(
      async () => {
        const answer = await post<{ epoch: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: `after-${randomUUID()}`, password } });
        return answer.status === 200 ? answer.body : undefined;
      },
      15_000,
      'a write under the new master',
    );
    expect(next.epoch).toBeGreaterThan(oldEpoch);

    const connection = await amqp.connect(service.amqpUrl);
    try {
      const channel = await connection.createConfirmChannel();
      channel.on('error', () => undefined);
      const late = userWrite(1_000_000, oldEpoch, 'from-a-fenced-master');
      const confirmed = await new Promise<boolean>((resolve) => {
        // Signed, as the fenced master (which has the cluster key) would: the broker refuses it anyway.
        const content = encode(late);
        const exchange = clusterNames(service.cluster).syncEpochExchange(oldEpoch);
        channel.publish(exchange, '', content, service.signer.as('master').seal({ to: exchange, expiresAt: 0 }, content), (error) => resolve(!error));
      });
      expect(confirmed).toBe(false);
    } finally {
      await connection.close().catch(() => undefined);
    }
  });

  it('a write that reaches the master after its deadline is answered TIMEOUT and never applied', async () => {
    const connection = await amqp.connect(service.amqpUrl);
    try {
      const channel = await connection.createChannel();
      const { queue: replyQueue } = await channel.assertQueue('', { exclusive: true });
      const answer = new Promise<{ ok: boolean; code?: string }>((resolve) => {
        void channel.consume(replyQueue, (message) => message && resolve(JSON.parse(message.content.toString())), { noAck: true });
      });
      await new Promise((resolve) => setImmediate(resolve));
      const command = {
        v: PROTOCOL_VERSION,
        kind: 'write',
        requestId: randomUUID(),
        write: { op: 'insert', table: 'users', values: { username: 'too-late', password } },
        deadline: Date.now() - 1,
      };
      const content = encode(command);
      const writeQ = clusterNames(service.cluster).writeQ;
      channel.sendToQueue(writeQ, content, service.signer.seal({ to: writeQ, replyTo: replyQueue, correlationId: 'c1', expiresAt: Date.now() + 10_000 }, content));
      expect(await answer).toMatchObject({ ok: false, code: 'TIMEOUT' });
    } finally {
      await connection.close().catch(() => undefined);
    }
    const read = await until(
      async () => {
        const answer = await post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'users', where: { username: 'too-late' }, fresh: true });
        return answer.status === 200 ? answer.body : undefined;
      },
      15_000,
      'a fresh read',
    );
    expect(read.rows).toEqual([]);
  });

  it('a write answered 503 while the master was frozen is not applied once the master resumes', async () => {
    const workers = await settledWorkers(service, 2);
    const master = workers.find((worker) => worker.role === 'master')!;
    process.kill(master.pid, 'SIGSTOP');
    stopped.push(master.pid);
    const answer = await post(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'frozen-503', password } });
    expect(answer.status).toBe(503);
    process.kill(master.pid, 'SIGCONT');
    stopped.pop();
    // A later write of the same client is applied after the master resumed: the 503'd one must not follow it.
    const later = await until(
      async () => {
        const reply = await post<{ seq: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'after-resume', password } });
        return reply.status === 200 ? reply.body : undefined;
      },
      15_000,
      'a write after the master resumed',
    );
    const read = await post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'users', where: { username: 'frozen-503' }, minSeq: later.seq });
    expect(read.status).toBe(200);
    expect(read.body.rows).toEqual([]);
  });

  it('a write whose caller stopped waiting (its time budget) is not applied once the master resumes', async () => {
    const workers = await settledWorkers(service, 2);
    const master = workers.find((worker) => worker.role === 'master')!;
    process.kill(master.pid, 'SIGSTOP');
    stopped.push(master.pid);
    // The caller (a users or rides instance) waits 100 ms, far less than the orchestrator's RPC timeout (800 ms).
    const abandoned = await post(
      url('/api/v1/db/write'),
      { op: 'insert', table: 'users', values: { username: 'budget-spent', password } },
      {
        headers: { [TIME_BUDGET_HEADER]: '100' },
        timeoutMs: 100,
      },
    ).catch((error: unknown) => error);
    expect(abandoned).toBeInstanceOf(Error);
    // Resumed well within the orchestrator's own deadline, after the caller's.
    await sleep(150);
    process.kill(master.pid, 'SIGCONT');
    stopped.pop();
    const later = await until(
      async () => {
        const reply = await post<{ seq: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'after-budget', password } });
        return reply.status === 200 ? reply.body : undefined;
      },
      15_000,
      'a write after the master resumed',
    );
    const read = await post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'users', where: { username: 'budget-spent' }, minSeq: later.seq });
    expect(read.status).toBe(200);
    expect(read.body.rows).toEqual([]);
  });
});
