/**
 * A broker that kept its data across an upgrade holds the cluster's queues as an older version
 * declared them (classic). The supervisor converts them when no worker runs, keeping every message
 * (src/dbaas/supervisor/queue-conversion.ts); a queue still consumed is left alone; a conversion cut
 * short is finished by the next one; and a cluster started on such a broker serves.
 */
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { post } from '../../harness/http.ts';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';
import { clusterNames, type ClusterNames } from '../../src/dbaas/protocol/names.ts';
import { convertQueues, holdingQueueOf } from '../../src/dbaas/supervisor/queue-conversion.ts';
import { isPreconditionFailed, queueDeclarations } from '../../src/dbaas/transport/topology.ts';
import { createLogger } from '../../src/shared/logger.ts';

const logger = createLogger('queue-conversion-test', 'silent');

/** The declarations of the version before quorum queues. */
function declareAsBefore(channel: Channel, names: ClusterNames): Promise<unknown> {
  return Promise.all([
    ...[names.readQ, names.writeQ, names.snapshotQ].map((queue) => channel.assertQueue(queue, { durable: true })),
    channel.assertQueue(names.refusedQ, { durable: true, arguments: { 'x-max-length': 1000, 'x-overflow': 'drop-head' } }),
  ]);
}

describe('converting the queues of an older declaration', () => {
  let connection: ChannelModel;
  let names: ClusterNames;
  let service: DatabaseServiceHandle | undefined;

  async function channel(): Promise<Channel> {
    const made = await connection.createChannel();
    made.on('error', () => undefined);
    return made;
  }

  /** True when the queue exists exactly as this version declares it. */
  async function declaredAsNow(queue: string): Promise<boolean> {
    const probe = await channel();
    return probe.assertQueue(queue, queueDeclarations(names).get(queue)).then(
      () => true,
      (error: unknown) => {
        if (isPreconditionFailed(error)) return false;
        throw error;
      },
    );
  }

  /**
   * Every message of the queue, in order, by consuming (writeQ has a single active consumer, and
   * RabbitMQ serves no basic.get on such a queue): `count` of them, then nothing more for a moment.
   */
  async function drain(queue: string, count: number): Promise<{ body: string; correlationId: unknown; replyTo: unknown; expiration: unknown; signature: unknown }[]> {
    const reader = await channel();
    const found: { body: string; correlationId: unknown; replyTo: unknown; expiration: unknown; signature: unknown }[] = [];
    const { consumerTag } = await reader.consume(
      queue,
      (message) => {
        if (!message) return;
        const { correlationId, replyTo, expiration, headers } = message.properties;
        found.push({ body: message.content.toString(), correlationId, replyTo, expiration, signature: (headers as Record<string, unknown> | undefined)?.['x-signature'] });
      },
      { noAck: true },
    );
    await until(() => found.length >= count || undefined, 10_000, `${count} messages from ${queue}`);
    // Whatever the broker delivered before the cancel is handled before the cancel resolves, and
    // the rest would still be counted in the queue: none left means `found` is all there was.
    await reader.cancel(consumerTag);
    expect((await reader.checkQueue(queue)).messageCount, `messages left in ${queue} beyond ${count}`).toBe(0);
    return found;
  }

  beforeEach(async () => {
    connection = await amqp.connect(testServers().amqpUrl);
    connection.on('error', () => undefined);
    names = clusterNames(uniqueClusterName('convert'));
  });
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    const cleanup = await channel();
    for (const queue of names.allQueues()) {
      await cleanup.deleteQueue(queue).catch(() => undefined);
      await cleanup.deleteQueue(holdingQueueOf(queue)).catch(() => undefined);
    }
    await cleanup.deleteExchange(names.deadLetterExchange).catch(() => undefined);
    await connection.close().catch(() => undefined);
  });

  it('declares every queue anew and keeps every message, its properties and their order', async () => {
    const old = await channel();
    await declareAsBefore(old, names);
    const publisher = await connection.createConfirmChannel();
    const sent = Array.from({ length: 600 }, (_, index) => ({ queue: index % 2 === 0 ? names.writeQ : names.readQ, body: `m${index}` }));
    for (const { queue, body } of sent) {
      publisher.sendToQueue(queue, Buffer.from(body), { correlationId: body, replyTo: 'amq.gen-asker', expiration: '60000', headers: { 'x-signature': `sig-${body}` } });
    }
    publisher.sendToQueue(names.refusedQ, Buffer.from('kept for an operator'));
    await publisher.waitForConfirms();
    for (const queue of names.allQueues()) expect(await declaredAsNow(queue), queue).toBe(false);

    const report = await convertQueues(connection, names, logger);

    expect(report.converted.sort()).toEqual(names.allQueues().sort());
    expect(report.inUse).toEqual([]);
    expect(report.moved).toBe(601);
    for (const queue of names.allQueues()) expect(await declaredAsNow(queue), queue).toBe(true);
    for (const queue of [names.writeQ, names.readQ]) {
      const expected = sent.filter((message) => message.queue === queue).map(({ body }) => ({ body, correlationId: body, replyTo: 'amq.gen-asker', expiration: '60000', signature: `sig-${body}` }));
      expect(await drain(queue, expected.length)).toEqual(expected);
    }
    expect((await drain(names.refusedQ, 1)).map((message) => message.body)).toEqual(['kept for an operator']);
    // Nothing left behind, and a second run finds nothing to do.
    const probe = await channel();
    await expect(probe.checkQueue(holdingQueueOf(names.writeQ))).rejects.toThrow();
    expect(await convertQueues(connection, names, logger)).toEqual({ converted: [], inUse: [], moved: 0 });
  });

  it('leaves a queue that a worker of the older version still consumes as it is', async () => {
    const old = await channel();
    await declareAsBefore(old, names);
    old.sendToQueue(names.writeQ, Buffer.from('in flight'));
    const consumer = await channel();
    await consumer.consume(names.readQ, () => undefined, { noAck: false });

    const report = await convertQueues(connection, names, logger);

    expect(report.inUse).toEqual([names.readQ]);
    expect(report.converted).toContain(names.writeQ);
    expect(await declaredAsNow(names.readQ)).toBe(false);
    expect((await drain(names.writeQ, 1)).map((message) => message.body)).toEqual(['in flight']);
  });

  it('finishes a conversion cut short: what waits in the holding queue goes back', async () => {
    const setup = await channel();
    for (const [queue, options] of queueDeclarations(names)) await setup.assertQueue(queue, options);
    await setup.assertQueue(holdingQueueOf(names.writeQ), { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const publisher = await connection.createConfirmChannel();
    publisher.sendToQueue(holdingQueueOf(names.writeQ), Buffer.from('held'), { correlationId: 'held' });
    await publisher.waitForConfirms();

    const report = await convertQueues(connection, names, logger);

    expect(report).toEqual({ converted: [], inUse: [], moved: 1 });
    expect((await drain(names.writeQ, 1)).map((message) => message.body)).toEqual(['held']);
    await expect((await channel()).checkQueue(holdingQueueOf(names.writeQ))).rejects.toThrow();
  });

  it('a cluster started where an older version left classic queues converts them and serves', async () => {
    const cluster = uniqueClusterName('upgrade');
    names = clusterNames(cluster);
    await declareAsBefore(await channel(), names);

    service = await startDatabaseService({ cluster, slaves: 1 });

    for (const queue of names.allQueues()) expect(await declaredAsNow(queue), queue).toBe(true);
    const write = await post<{ seq: number }>(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'after-upgrade', password: 'ab'.repeat(20) } });
    expect(write.status).toBe(200);
    const read = await post<{ rows: unknown[] }>(`${service.orchestratorUrl}/api/v1/db/read`, { table: 'users', where: { username: 'after-upgrade' }, minSeq: write.body.seq });
    expect(read.status).toBe(200);
    expect(read.body.rows).toHaveLength(1);
  });
});
