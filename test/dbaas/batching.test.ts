/**
 * Batching without waiting: what arrives together travels together (one batch message from the
 * orchestrator, one group commit and one sync message from the master), and every command still
 * succeeds or fails on its own.
 */
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { inParallel, post } from '../../harness/http.ts';
import { readLiveReplicas, until } from '../../harness/replicas.ts';
import { encode, PROTOCOL_VERSION, type DbCommand } from '../../src/dbaas/protocol/messages.ts';
import { decodeBatchReply, type Reply } from '../../src/dbaas/protocol/reply.ts';
import { decodeSync, type SyncGroup } from '../../src/dbaas/protocol/sync.ts';
import { clusterNames } from '../../src/dbaas/protocol/names.ts';

const password = 'cd'.repeat(20);

describe('batching and group commit', () => {
  let service: DatabaseServiceHandle;
  let connection: ChannelModel;
  let channel: Channel;
  let replyQueue: string;
  const url = (path: string) => `${service.orchestratorUrl}${path}`;
  const groups: SyncGroup[] = [];
  const replies = new Map<string, (content: Buffer) => void>();

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 2 });
    connection = await amqp.connect(service.amqpUrl);
    channel = await connection.createChannel();
    // A replica's view of the stream: a queue of our own on the sync fanout.
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, clusterNames(service.cluster).syncExchange, '');
    await channel.consume(
      queue,
      (message) => {
        if (!message) return;
        const sync = decodeSync(message.content);
        if (sync.kind === 'group') groups.push(sync);
      },
      { noAck: true },
    );
    // A queue of our own: its name is signed into each command as the reply-to.
    replyQueue = (await channel.assertQueue('', { exclusive: true })).queue;
    await channel.consume(replyQueue, (message) => message && replies.get(message.properties.correlationId as string)?.(message.content), { noAck: true });
  });
  afterAll(async () => {
    await connection?.close().catch(() => undefined);
    await service?.stop();
  });

  /** Publishes a signed batch as an orchestrator would, and returns each command's reply. */
  async function sendBatch(queue: string, commands: unknown[]): Promise<Reply<unknown>[]> {
    const correlationId = `batch-${replies.size}`;
    const answered = new Promise<Buffer>((resolve) => replies.set(correlationId, resolve));
    const content = encode({ v: PROTOCOL_VERSION, kind: 'batch', commands });
    channel.sendToQueue(queue, content, { ...service.signer.seal({ to: queue, replyTo: replyQueue, correlationId, expiresAt: Date.now() + 10_000 }, content), expiration: '10000' });
    const answer = await Promise.race([answered, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no reply within 10 s')), 10_000))]);
    return decodeBatchReply(answer, commands.length);
  }

  async function liveReplicasAt(seq: number) {
    return until(
      async () => {
        const ids = (await service.orchestrator.workers()).map((worker) => worker.workerId);
        const replicas = readLiveReplicas(service.dataDir, ids);
        return replicas.length === 3 && replicas.every((replica) => replica.appliedSeq >= seq) ? replicas : undefined;
      },
      15_000,
      `every replica at seq ${seq}`,
    );
  }

  it('writes sent together are committed in groups, each with its own seq, and a failing write fails alone', async () => {
    const taken = await post<{ seq: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'taken', password } });
    expect(taken.status).toBe(200);
    groups.length = 0;
    // Every tenth write breaks the unique key: it must fail without taking its group down.
    const results = await inParallel(300, 64, (i) =>
      post<{ seq?: number; code?: string }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: i % 10 === 0 ? 'taken' : `grouped-${i}`, password } }),
    );
    const refused = results.filter((_, i) => i % 10 === 0);
    const accepted = results.filter((_, i) => i % 10 !== 0);
    expect(refused.every((result) => result.status === 409)).toBe(true);
    expect(accepted.every((result) => result.status === 200)).toBe(true);

    // Consecutive seqs after the first write: no seq was given to a refused write.
    const seqs = accepted.map((result) => result.body.seq as number).sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, i) => taken.body.seq + 1 + i));

    await until(() => (groups.reduce((sum, group) => sum + group.writes.length, 0) >= accepted.length ? true : undefined), 10_000, 'every group on the stream');
    const streamed = groups.flatMap((group) => group.writes.map((write) => write.seq));
    expect(streamed).toEqual(seqs);
    // Grouped: fewer sync messages than writes.
    console.log(`${accepted.length} writes at 64 in flight: ${groups.length} sync messages, the largest group ${Math.max(...groups.map((group) => group.writes.length))}`);
    expect(groups.length).toBeLessThan(accepted.length);
    expect(Math.max(...groups.map((group) => group.writes.length))).toBeGreaterThan(1);

    const replicas = await liveReplicasAt(seqs.at(-1) as number);
    expect(new Set(replicas.map((replica) => replica.checksum)).size).toBe(1);
    expect(replicas[0]?.counts.users).toBe(1 + accepted.length);
  });

  it('reads sent together are each answered with their own rows', async () => {
    const names = Array.from({ length: 40 }, (_, i) => `grouped-${i * 3 + 1}`).filter((_, i) => (i * 3 + 1) % 10 !== 0);
    const answers = await inParallel(names.length * 4, 64, (i) =>
      post<{ rows: { username: string }[] }>(url('/api/v1/db/read'), { table: 'users', columns: ['username'], where: { username: names[i % names.length] } }),
    );
    answers.forEach((answer, i) => {
      expect(answer.status).toBe(200);
      expect(answer.body.rows).toEqual([{ username: names[i % names.length] }]);
    });
  });

  it('a batch on writeQ: a good write is applied, a bad one and a misplaced read fail alone, position answers', async () => {
    const names = clusterNames(service.cluster);
    const deadline = Date.now() + 10_000;
    const write = (username: string, requestId: string): DbCommand => ({
      v: PROTOCOL_VERSION,
      kind: 'write',
      requestId,
      write: { op: 'insert', table: 'users', values: { username, password } },
      deadline,
    });
    const answers = await sendBatch(names.writeQ, [
      write('batched-good', 'batch-good'),
      write('taken', 'batch-duplicate-user'),
      { v: PROTOCOL_VERSION, kind: 'write', requestId: 'batch-junk', write: { op: 'insert', table: 'no_such_table', values: {} }, deadline },
      { v: PROTOCOL_VERSION, kind: 'read', query: { table: 'users' } },
      { v: PROTOCOL_VERSION, kind: 'position' },
      write('batched-good', 'batch-good'),
    ]);
    expect(answers.map((answer) => (answer.ok ? 'ok' : answer.code))).toEqual(['ok', 'UNIQUE_VIOLATION', 'BAD_REQUEST', 'BAD_REQUEST', 'ok', 'ok']);
    // The same request id twice in one batch: applied once, the same answer twice.
    expect(answers[5]).toEqual(answers[0]);
    const applied = (answers[0] as { result: { seq: number } }).result.seq;
    const replicas = await liveReplicasAt(applied);
    for (const replica of replicas) expect(replica.order.get('batch-good')).toBe(applied);
    expect(new Set(replicas.map((replica) => replica.checksum)).size).toBe(1);
  });

  it('a batch on readQ: each read answered on its own, a malformed one and a misplaced write refused alone', async () => {
    const names = clusterNames(service.cluster);
    const answers = await sendBatch(names.readQ, [
      { v: PROTOCOL_VERSION, kind: 'read', query: { table: 'users', columns: ['username'], where: { username: 'taken' } } },
      { v: PROTOCOL_VERSION, kind: 'read', query: { table: 'users', where: { nope: 1 } } },
      { v: PROTOCOL_VERSION, kind: 'write', requestId: 'misplaced', write: { op: 'clear' }, deadline: Date.now() + 10_000 },
      { v: PROTOCOL_VERSION, kind: 'read', query: { table: 'users', count: true, where: { username: 'batched-good' } } },
    ]);
    expect(answers.map((answer) => (answer.ok ? 'ok' : answer.code))).toEqual(['ok', 'BAD_REQUEST', 'BAD_REQUEST', 'ok']);
    expect((answers[0] as { result: { rows: unknown[] } }).result.rows).toEqual([{ username: 'taken' }]);
    expect((answers[3] as { result: { rows: unknown[] } }).result.rows).toEqual([{ count: 1 }]);
  });
});
