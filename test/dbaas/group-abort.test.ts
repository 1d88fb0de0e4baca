/**
 * A group whose transaction SQLite ends (a full disk, an I/O error; a trigger's RAISE(ROLLBACK)
 * stands in for them, planted in the master's file only) is never half-applied: the master
 * answers none of it and stops, the next master applies the whole group, and every replica ends
 * with the same writes, once each.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { readLiveReplicas, readReplica, until } from '../../harness/replicas.ts';
import { settledWorkers } from '../../harness/workers.ts';
import { encode, PROTOCOL_VERSION, type DbCommand } from '../../src/dbaas/protocol/messages.ts';
import { decodeBatchReply, type Reply } from '../../src/dbaas/protocol/reply.ts';
import { clusterNames } from '../../src/dbaas/protocol/names.ts';
import { workerDbFile, workersDirOf } from '../../src/dbaas/worker/files.ts';

const password = 'ab'.repeat(20);

describe('a group commit that SQLite aborts', () => {
  let service: DatabaseServiceHandle;
  let connection: ChannelModel;
  let channel: Channel;
  let replyQueue: string;
  const replies = new Map<string, (content: Buffer) => void>();

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 2 });
    connection = await amqp.connect(service.amqpUrl);
    channel = await connection.createChannel();
    // A queue of our own: its name is signed into the command as the reply-to.
    replyQueue = (await channel.assertQueue('', { exclusive: true })).queue;
    await channel.consume(replyQueue, (message) => message && replies.get(message.properties.correlationId as string)?.(message.content), { noAck: true });
  });
  afterAll(async () => {
    await connection?.close().catch(() => undefined);
    await service?.stop();
  });

  it('is answered by the next master as a whole, and no replica holds a write the others lack', async () => {
    const before = await settledWorkers(service, 3);
    const master = before.find((worker) => worker.role === 'master');
    if (!master) throw new Error('no master');
    const raw = new Database(workerDbFile(workersDirOf(service.dataDir), master.workerId));
    raw.exec(`CREATE TRIGGER ends_transaction BEFORE INSERT ON users WHEN NEW.username = 'aborts-the-group'
              BEGIN SELECT RAISE(ROLLBACK, 'injected transaction end'); END`);
    raw.close();

    const deadline = Date.now() + 30_000;
    const write = (username: string): DbCommand => ({
      v: PROTOCOL_VERSION,
      kind: 'write',
      requestId: `abort-${username}`,
      write: { op: 'insert', table: 'users', values: { username, password } },
      deadline,
    });
    const commands = [write('before-the-abort'), write('aborts-the-group'), write('after-the-abort')];
    const answered = new Promise<Buffer>((resolve) => replies.set('abort-batch', resolve));
    const content = encode({ v: PROTOCOL_VERSION, kind: 'batch', commands });
    const writeQ = clusterNames(service.cluster).writeQ;
    channel.sendToQueue(writeQ, content, {
      ...service.signer.seal({ to: writeQ, replyTo: replyQueue, correlationId: 'abort-batch', expiresAt: deadline }, content),
      expiration: '30000',
    });
    const answers: Reply<unknown>[] = decodeBatchReply(
      await Promise.race([answered, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 30 s')), 30_000))]),
      commands.length,
    );
    // The master that could not commit stopped; the one after it applied the whole group.
    expect(answers.map((answer) => (answer.ok ? 'ok' : answer.code))).toEqual(['ok', 'ok', 'ok']);
    const after = await settledWorkers(service, 3, master.pid);
    expect(after.find((worker) => worker.role === 'master')?.workerId).not.toBe(master.workerId);

    const seqs = answers.map((answer) => (answer as { result: { seq: number } }).result.seq);
    const last = Math.max(...seqs);
    const replicas = await until(
      () => {
        const live = readLiveReplicas(
          service.dataDir,
          after.map((worker) => worker.workerId),
        );
        return live.length === 3 && live.every((replica) => replica.appliedSeq >= last) ? live : undefined;
      },
      15_000,
      'every replica at the group',
    );
    expect(new Set(replicas.map((replica) => replica.checksum)).size).toBe(1);
    for (const replica of replicas) {
      expect(commands.map((command) => replica.order.get((command as { requestId: string }).requestId))).toEqual(seqs);
    }
    // The stopped master's file (while the supervisor has not removed it yet) holds none of the group.
    const oldFile = workerDbFile(workersDirOf(service.dataDir), master.workerId);
    if (fs.existsSync(oldFile)) {
      const old = readReplica(oldFile);
      for (const command of commands) expect(old.order.has((command as { requestId: string }).requestId)).toBe(false);
    }
  });
});
