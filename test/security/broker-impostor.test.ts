/**
 * An impostor with the broker's credentials but not the cluster key, consuming the cluster's
 * queues beside the real workers and answering everything it takes with well-formed messages:
 * no forged reply reaches a client (on readQ, nor on writeQ taken while the master changes), no
 * forged snapshot is installed, and a signed snapshot request replayed with the impostor's
 * reply-to gets no copy of the database.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { post } from '../../harness/http.ts';
import { until } from '../../harness/replicas.ts';
import { settledWorkers } from '../../harness/workers.ts';
import { encode, PROTOCOL_VERSION } from '../../src/dbaas/protocol/messages.ts';
import { clusterNames } from '../../src/dbaas/protocol/names.ts';
import { fetchSnapshot } from '../../src/dbaas/replication/snapshot-transfer.ts';
import { sleep } from '../../src/shared/timeout.ts';

const FORGED_ROW = { username: 'forged-by-the-impostor' };

/** A forged worker reply: what a slave or the master would answer, for a batch or one command. */
function forgedReply(message: ConsumeMessage): Buffer {
  const forgedOne = { v: PROTOCOL_VERSION, ok: true, result: { rows: [FORGED_ROW], seq: 1_000_000, worker: 'impostor', changes: 1, epoch: 1 } };
  const command = JSON.parse(message.content.toString()) as { kind: string; commands?: unknown[] };
  return encode(command.kind === 'batch' ? { v: PROTOCOL_VERSION, ok: true, result: command.commands?.map(() => forgedOne) } : forgedOne);
}

/** A database file of the cluster's shape whose only user is the impostor's. */
function forgedDatabase(real: string, into: string): ForgedCopy {
  fs.copyFileSync(real, into);
  const db = new Database(into);
  db.prepare('DELETE FROM users').run();
  db.prepare('INSERT INTO users (username, password) VALUES (?, ?)').run(FORGED_ROW.username, 'x'.repeat(40));
  const position = db.prepare('SELECT applied_seq AS appliedSeq, epoch FROM replication_state WHERE id = 1').get() as { appliedSeq: number; epoch: number };
  db.close();
  return { bytes: fs.readFileSync(into), ...position };
}

interface ForgedCopy {
  bytes: Buffer;
  appliedSeq: number;
  epoch: number;
}

/** Answers a snapshot request the way a server does, with `file` as the copy. */
function serveForged(channel: Channel, request: ConsumeMessage, { bytes: file, appliedSeq, epoch }: ForgedCopy): void {
  const to = request.properties.replyTo as string;
  const signal = (value: object, body: Buffer = Buffer.alloc(0)) =>
    channel.sendToQueue(to, body, { correlationId: request.properties.correlationId as string, replyTo: 'amq.rabbitmq.reply-to', headers: { 'x-snapshot': JSON.stringify({ v: 1, ...value }) } });
  signal({ type: 'accepted', redelivered: false });
  signal({ type: 'begin', appliedSeq, epoch, size: file.length, chunkBytes: file.length, chunks: 1 });
  signal({ type: 'chunk', index: 0, offset: 0 }, file);
  signal({ type: 'end', size: file.length, sha256: createHash('sha256').update(file).digest('hex') });
}

describe('an impostor with the broker credentials and without the cluster key', () => {
  let service: DatabaseServiceHandle;
  let impostor: ChannelModel;
  const password = 'i'.repeat(40);
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'impostor-'));

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1, env: { RPC_TIMEOUT_MS: '1500' } });
    for (const username of ['alice', 'bob']) {
      expect((await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username, password } })).status).toBe(200);
    }
    await settledWorkers(service, 2);
    impostor = await amqp.connect(service.amqpUrl);
  });
  afterAll(async () => {
    await impostor?.close().catch(() => undefined);
    await service?.stop();
    fs.rmSync(folder, { recursive: true, force: true });
  });

  it('consuming readQ beside the slave, gets none of its forged answers to a client', async () => {
    const channel = await impostor.createChannel();
    let answered = 0;
    const { consumerTag } = await channel.consume(
      clusterNames(service.cluster).readQ,
      (message) => {
        if (!message) return;
        channel.sendToQueue(message.properties.replyTo as string, forgedReply(message), { correlationId: message.properties.correlationId as string });
        answered += 1;
      },
      { noAck: true },
    );
    try {
      const answers = await Promise.all(
        Array.from({ length: 40 }, async (_, index) => {
          await sleep(index * 20);
          return post<{ rows: { username: string }[] }>(`${service.orchestratorUrl}/api/v1/db/read`, { table: 'users', columns: ['username'] });
        }),
      );
      expect(answered).toBeGreaterThan(0);
      const real = answers.filter((answer) => answer.status === 200);
      // The reads the impostor took are lost (a 503 once they time out); every read answered is the real data.
      for (const answer of answers) expect([200, 503]).toContain(answer.status);
      expect(real.length).toBeGreaterThan(0);
      for (const answer of real) expect(answer.body.rows.map((row) => row.username).sort()).toEqual(['alice', 'bob']);
    } finally {
      await channel.cancel(consumerTag);
      await channel.close();
    }
  });

  it('answering a snapshot request with a forged copy, gets nothing installed', async () => {
    const names = clusterNames(service.cluster);
    // The impostor's copy has the cluster's shape: a real copy, its users replaced.
    const real = path.join(folder, 'real.db');
    const honest = await amqp.connect(service.amqpUrl);
    await fetchSnapshot({ connection: honest, names, signer: service.signer, minSeq: 0, file: real, timeoutMs: 10_000 }).finally(() => honest.close());
    const forged = forgedDatabase(real, path.join(folder, 'forged.db'));
    const channel = await impostor.createChannel();
    // The impostor's own reply address, which its forged signals name as a server's would.
    await channel.consume('amq.rabbitmq.reply-to', () => undefined, { noAck: true });
    let served = 0;
    // A higher priority than any worker's: the impostor takes every request while it consumes.
    const { consumerTag } = await channel.consume(
      names.snapshotQ,
      (message) => {
        if (!message) return;
        serveForged(channel, message, forged);
        served += 1;
      },
      { noAck: true, priority: 100 },
    );
    const file = path.join(folder, 'joining.db');
    try {
      const connection = await amqp.connect(service.amqpUrl);
      try {
        const fetched = await fetchSnapshot({ connection, names, signer: service.signer, minSeq: 0, file, timeoutMs: 3000, chunkTimeoutMs: 1000 }).catch((error: unknown) => error);
        expect(served).toBeGreaterThan(0);
        if (!(fetched instanceof Error)) expect(usernamesIn(file)).not.toContain(FORGED_ROW.username);
      } finally {
        await connection.close();
      }
    } finally {
      await channel.cancel(consumerTag);
      await channel.close();
    }
    // With the impostor gone, the same fetch gets the real copy.
    const connection = await amqp.connect(service.amqpUrl);
    try {
      await fetchSnapshot({ connection, names, signer: service.signer, minSeq: 0, file, timeoutMs: 10_000 });
      expect(usernamesIn(file)).toEqual(['alice', 'bob']);
    } finally {
      await connection.close();
    }
  });

  it('replaying a signed snapshot request with its own reply-to, gets no copy of the database', async () => {
    const names = clusterNames(service.cluster);
    const channel = await impostor.createChannel();
    const captured = new Promise<ConsumeMessage>((resolve) => {
      void channel.consume(names.snapshotQ, (message) => message && resolve(message), { noAck: true, priority: 100 });
    });
    // A real replica asks; the impostor takes the request off snapshotQ before any worker does.
    const connection = await amqp.connect(service.amqpUrl);
    const asking = fetchSnapshot({ connection, names, signer: service.signer, minSeq: 0, file: path.join(folder, 'asker.db'), timeoutMs: 1500, chunkTimeoutMs: 500 }).catch(() => undefined);
    const request = await captured;
    await channel.close();
    await asking;
    await connection.close();

    const thief = await impostor.createChannel();
    let bytes = 0;
    const signals: string[] = [];
    await thief.consume(
      'amq.rabbitmq.reply-to',
      (message) => {
        if (!message) return;
        const header = (message.properties.headers as Record<string, unknown> | undefined)?.['x-snapshot'];
        signals.push(String(header));
        bytes += message.content.length;
        // Acknowledges everything as a requester would, to be sent the whole file.
        const from = message.properties.replyTo as string | undefined;
        const index = /"type":"chunk","index":(\d+)/.exec(String(header))?.[1];
        const ack = /"type":"(accepted|end)"/.test(String(header)) || index !== undefined;
        if (from && ack) {
          const transferId = message.properties.correlationId as string;
          const end = /"chunks":(\d+)/.exec(signals.join(''))?.[1];
          const ackIndex = index !== undefined ? Number(index) : /"type":"end"/.test(String(header)) ? Number(end ?? 0) : -1;
          thief.sendToQueue(from, encode({ v: 1, type: 'ack', transferId, index: ackIndex }), { correlationId: transferId });
        }
      },
      { noAck: true },
    );
    thief.sendToQueue(names.snapshotQ, request.content, { ...request.properties, replyTo: 'amq.rabbitmq.reply-to', expiration: undefined });
    // A worker took the replayed request and refused it: it is kept on the refused queue. Nothing
    // it would have sent can come after that decision.
    await until(
      async () => {
        for (let kept = await thief.get(names.refusedQ, { noAck: true }); kept; kept = await thief.get(names.refusedQ, { noAck: true })) {
          const from = (kept.properties.headers as Record<string, unknown> | undefined)?.['x-refused-from'];
          if (from === 'snapshotQ' && kept.content.equals(request.content)) return true;
        }
        return undefined;
      },
      15_000,
      'the replayed request refused',
    );
    await thief.close();
    expect(signals.filter((signal) => signal.includes('"chunk"'))).toEqual([]);
    expect(bytes).toBe(0);
  });

  it('holding writeQ while the master changes, gets none of its forged write answers to a client', async () => {
    const names = clusterNames(service.cluster);
    const workers = await settledWorkers(service, 2);
    let answered = 0;
    let taker: Channel | undefined;
    const answer = (message: ConsumeMessage | null) => {
      if (!message || !taker) return;
      answered += 1;
      taker.sendToQueue(message.properties.replyTo as string, forgedReply(message), { correlationId: message.properties.correlationId as string });
      taker.ack(message);
    };
    // Every worker killed: the old master's consumer goes with its process, and the next master is
    // a new process restarted from the files, which takes a while to boot. The impostor subscribes
    // meanwhile, as a master does: writeQ has a single active consumer, so it is next in line and
    // takes writeQ when the broker drops the dead master's channel. (A queue of an older declaration
    // refused a second exclusive consumer: the loop retries on a fresh channel then.)
    for (const worker of workers) process.kill(worker.pid, 'SIGKILL');
    let holding: string | undefined;
    let tries = 0;
    for (const giveUpAt = Date.now() + 5000; holding === undefined && Date.now() < giveUpAt; tries += 1) {
      taker = await impostor.createChannel();
      taker.on('error', () => undefined);
      try {
        holding = (await taker.consume(names.writeQ, answer, { exclusive: true })).consumerTag;
      } catch {
        // Refused (an exclusive consumer of an older declaration lingers); that closed the channel.
        await sleep(2);
      }
    }
    expect(holding, `writeQ taken after ${tries} tries`).toBeDefined();
    try {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          post<{ seq?: number }>(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: `while-held-${index}`, password } }),
        ),
      );
      expect(answered).toBeGreaterThan(0);
      // Not one forged acknowledgement: the writes the impostor took are lost to it, and answered 503.
      for (const reply of answers) expect(reply.status).toBe(503);
    } finally {
      await taker?.close().catch(() => undefined);
    }
    // With the impostor gone the cluster takes writes again, and no forged seq was ever handed out.
    const healed = await until(
      async () => {
        const reply = await post<{ seq: number }>(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'after-the-impostor', password } });
        return reply.status === 200 ? reply.body : undefined;
      },
      40_000,
      'a write after the impostor let writeQ go',
    );
    expect(healed.seq).toBeLessThan(1_000_000);
  });
});

function usernamesIn(file: string): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT username FROM users').all() as { username: string }[]).map((row) => row.username).sort();
  } finally {
    db.close();
  }
}
