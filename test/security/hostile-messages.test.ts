/**
 * Whoever can publish to the broker but has not got the cluster key (a leaked broker password, a
 * neighbour on a shared broker) changes nothing and crashes nobody: commands, sync messages and
 * snapshot requests that are not signed with the key are refused by every worker, and kept on the
 * cluster's refused queue for an operator.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { post } from '../../harness/http.ts';
import { readLiveReplicas, until } from '../../harness/replicas.ts';
import { settledWorkers } from '../../harness/workers.ts';
import { encode, PROTOCOL_VERSION } from '../../src/dbaas/protocol/messages.ts';
import { clusterNames } from '../../src/dbaas/protocol/names.ts';
import { encodeRequest } from '../../src/dbaas/replication/snapshot-protocol.ts';
import { MessageSigner } from '../../src/dbaas/transport/signing.ts';
import { sleep } from '../../src/shared/timeout.ts';

describe('messages not signed with the cluster key', () => {
  let service: DatabaseServiceHandle;
  const password = 'e'.repeat(40);

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1, env: { LOG_LEVEL: 'info' } });
  });
  afterAll(async () => {
    await service?.stop();
  });

  const usernames = async (): Promise<string[]> => {
    const answer = await post<{ rows: { username: string }[] }>(`${service.orchestratorUrl}/api/v1/db/read`, { table: 'users', columns: ['username'], fresh: true });
    return answer.body.rows.map((row) => row.username).sort();
  };

  it('are refused by the master, the slaves and the replication stream, and crash no worker', async () => {
    expect((await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'before', password } })).status).toBe(200);
    const before = await settledWorkers(service, 2);
    const names = clusterNames(service.cluster);
    const forged = new MessageSigner('a-key-that-is-not-the-cluster-key');
    const write = (username: string) => ({
      v: PROTOCOL_VERSION,
      kind: 'write',
      requestId: randomUUID(),
      write: { op: 'insert', table: 'users', values: { username, password } },
      deadline: Date.now() + 60_000,
    });
    const connection = await amqp.connect(service.amqpUrl);
    const replies: unknown[] = [];
    const refused: { from: string; reason: string; content: string }[] = [];
    try {
      const channel = await connection.createChannel();
      await channel.consume('amq.rabbitmq.reply-to', (message) => message && replies.push(message.content.toString()), { noAck: true });
      const send = (queue: string, body: unknown, headers: Record<string, string> = {}) => {
        const content = Buffer.isBuffer(body) ? body : encode(body);
        channel.sendToQueue(queue, content, { replyTo: 'amq.rabbitmq.reply-to', correlationId: randomUUID(), headers });
      };
      // Commands: unsigned, signed with another key, a signature copied from another message, junk.
      send(names.writeQ, write('unsigned'));
      const forgedWrite = encode(write('forged'));
      const envelope = { to: names.writeQ, expiresAt: Date.now() + 60_000 };
      send(names.writeQ, forgedWrite, forged.seal(envelope, forgedWrite).headers as Record<string, string>);
      send(names.writeQ, write('replayed-signature'), service.signer.seal(envelope, encode(write('something-else'))).headers as Record<string, string>);
      send(names.writeQ, { op: 'clear' });
      send(names.writeQ, Buffer.from('DROP TABLE users; --'));
      send(names.readQ, { v: PROTOCOL_VERSION, kind: 'read', query: { table: 'users', columns: ['username', 'password'] } });
      // A snapshot request would hand the whole database (hashes included) to its reply-to.
      send(names.snapshotQ, encodeRequest(randomUUID(), 0));
      // Sync messages: a write far ahead of the stream, and an epoch mark of an absurd epoch.
      const sync = {
        v: PROTOCOL_VERSION,
        kind: 'write',
        epoch: 1,
        seq: 9_000_000,
        requestId: 'injected',
        write: { op: 'insert', table: 'users', values: { username: 'injected', password } },
        result: { changes: 1, seq: 9_000_000, epoch: 1 },
      };
      channel.publish(names.syncExchange, '', encode(sync));
      channel.publish(names.syncExchange, '', encode({ v: PROTOCOL_VERSION, kind: 'epoch', epoch: 2 ** 40, seq: 0, masterId: 'intruder' }));
      // Each refusal is kept, unexecuted, on the cluster's refused queue, saying where and why.
      const kept = await until(
        async () => {
          const found: { from: string; reason: string; content: string }[] = [];
          for (;;) {
            const message = await channel.get(names.refusedQ, { noAck: true });
            if (!message) break;
            const headers = message.properties.headers as Record<string, string>;
            found.push({ from: headers['x-refused-from']!, reason: headers['x-refused-reason']!, content: message.content.toString() });
          }
          refused.push(...found);
          if (refused.length >= 9) return refused;
          await sleep(200);
          return undefined;
        },
        10_000,
        'the refused messages kept',
      );
      const from = (queue: string) => kept.filter((entry) => entry.from === queue).length;
      expect({ writeQ: from('writeQ'), readQ: from('readQ'), snapshotQ: from('snapshotQ'), sync: from('sync') }).toEqual({ writeQ: 5, readQ: 1, snapshotQ: 1, sync: 2 });
      expect(kept.map((entry) => entry.content)).toContain('DROP TABLE users; --');
      expect(kept.every((entry) => /unsigned/.test(entry.reason))).toBe(true);
    } finally {
      await connection.close();
    }

    expect(replies).toEqual([]);
    expect(await usernames()).toEqual(['before']);
    const after = await settledWorkers(service, 2);
    expect(after.map((worker) => worker.pid).sort()).toEqual(before.map((worker) => worker.pid).sort());
    // The cluster goes on as before: a real write reaches every replica.
    expect((await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'after', password } })).status).toBe(200);
    expect(await usernames()).toEqual(['after', 'before']);
    const logs = fs
      .readdirSync(path.join(service.dataDir, 'logs'))
      .map((file) => fs.readFileSync(path.join(service.dataDir, 'logs', file), 'utf8'))
      .join('\n');
    await until(() => (logs.includes('refusing an unsigned sync message') ? true : undefined), 1000, 'the refusals logged');
    for (const refusal of ['refusing an unsigned command on writeQ', 'refusing an unsigned command on readQ', 'refusing an unsigned snapshot request']) expect(logs).toContain(refusal);
  });

  it('a replayed epoch mark, signed with the cluster key, does not make a healthy replica look diverged', async () => {
    for (let i = 0; i < 3; i += 1) {
      expect((await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: `replay-${i}`, password } })).status).toBe(200);
    }
    const before = await settledWorkers(service, 2);
    const master = before.find((worker) => worker.role === 'master')!;
    // What a copy of the master's mark from the start of its epoch looks like, seen again now.
    const mark = encode({ v: PROTOCOL_VERSION, kind: 'epoch', epoch: master.epoch, seq: 0, masterId: master.workerId });
    const connection = await amqp.connect(service.amqpUrl);
    try {
      const channel = await connection.createChannel();
      const exchange = clusterNames(service.cluster).syncExchange;
      channel.publish(exchange, '', mark, service.signer.as('master').seal({ to: exchange, expiresAt: 0 }, mark));
    } finally {
      await connection.close();
    }
    // A write after the mark: the sync stream is in order, so a replica that holds it has dealt with
    // the mark first; one that took the mark for a divergence would have stopped before applying it.
    const written = await post<{ seq: number }>(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'after-replay', password } });
    expect(written.status).toBe(200);
    const replicas = before.map((worker) => worker.workerId);
    await until(
      () => (readLiveReplicas(service.dataDir, replicas).filter((replica) => replica.appliedSeq >= written.body.seq).length === replicas.length ? true : undefined),
      10_000,
      'the write after the mark on every replica',
    );
    const after = await settledWorkers(service, 2);
    expect(after.map((worker) => worker.pid).sort()).toEqual(before.map((worker) => worker.pid).sort());
    expect(await usernames()).toContain('after-replay');
  });
});
