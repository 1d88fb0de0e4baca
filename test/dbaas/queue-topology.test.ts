/**
 * The cluster's queues as the broker holds them (src/dbaas/transport/topology.ts): quorum queues,
 * writeQ with a single active consumer that hands over at once and in order, a delivery limit
 * whose dead letters are kept on the refused queue (and only those), and a queue of an older
 * declaration used as it is.
 */
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';
import { clusterNames, type ClusterNames } from '../../src/dbaas/protocol/names.ts';
import { assertTopology, DELIVERY_LIMIT, isPreconditionFailed, queueDeclarations } from '../../src/dbaas/transport/topology.ts';

describe('the cluster\u2019s queues', () => {
  let connection: ChannelModel;
  let names: ClusterNames;
  const connections: ChannelModel[] = [];

  async function connect(): Promise<ChannelModel> {
    const made = await amqp.connect(testServers().amqpUrl);
    made.on('error', () => undefined);
    connections.push(made);
    return made;
  }

  async function channelOf(model: ChannelModel): Promise<Channel> {
    const channel = await model.createChannel();
    channel.on('error', () => undefined);
    return channel;
  }

  beforeEach(async () => {
    connection = await connect();
    names = clusterNames(uniqueClusterName('queues'));
  });
  afterEach(async () => {
    const cleanup = await channelOf(await connect());
    for (const queue of names.allQueues()) await cleanup.deleteQueue(queue).catch(() => undefined);
    await cleanup.deleteExchange(names.deadLetterExchange).catch(() => undefined);
    await cleanup.deleteExchange(names.syncExchange).catch(() => undefined);
    for (const model of connections.splice(0)) await model.close().catch(() => undefined);
  });

  it('are quorum queues: a classic declaration of any of them is refused', async () => {
    expect(await assertTopology(connection, names)).toEqual({ declaredOtherwise: [] });
    for (const queue of names.allQueues()) {
      const channel = await channelOf(connection);
      const refused = await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isPreconditionFailed(refused), queue).toBe(true);
    }
  });

  it('writeQ feeds one master at a time; the next one gets the unacked writes at once, in order, when the first one\u2019s channel closes', async () => {
    await assertTopology(connection, names);
    const seen: string[] = [];
    const first = await channelOf(await connect());
    await first.prefetch(10);
    // Subscribed as a master does (exclusive, which a quorum queue ignores).
    await first.consume(names.writeQ, (message) => message && seen.push(`first:${message.content.toString()}`), { noAck: false, exclusive: true });
    // The successor subscribes while the first still holds writeQ: accepted, and it waits.
    const second = await channelOf(await connect());
    await second.prefetch(10);
    let handedOverAt = 0;
    await second.consume(
      names.writeQ,
      (message: ConsumeMessage | null) => {
        if (!message) return;
        handedOverAt ||= performance.now();
        seen.push(`second:${message.content.toString()}`);
        second.ack(message);
      },
      { noAck: false, exclusive: true },
    );
    const publisher = await (await connect()).createConfirmChannel();
    for (const body of ['w1', 'w2', 'w3']) publisher.sendToQueue(names.writeQ, Buffer.from(body));
    await publisher.waitForConfirms();
    await until(() => seen.length === 3 || undefined, 5000, 'the first master gets the writes');
    expect(seen).toEqual(['first:w1', 'first:w2', 'first:w3']);

    const closedAt = performance.now();
    await first.close();
    await until(() => seen.length === 6 || undefined, 5000, 'the second master gets the unacked writes');
    expect(seen.slice(3)).toEqual(['second:w1', 'second:w2', 'second:w3']);
    expect(handedOverAt - closedAt).toBeLessThan(1000);
  });

  it(`a message returned more than ${DELIVERY_LIMIT} times without an answer is kept on the refused queue with the broker\u2019s reason; one that expires is dropped`, async () => {
    await assertTopology(connection, names);
    const publisher = await connection.createConfirmChannel();
    publisher.sendToQueue(names.readQ, Buffer.from('expires'), { expiration: '50' });
    await publisher.waitForConfirms();
    // Dropped once its 50 ms are up (it is at the head of the queue, where the broker expires messages).
    await until(async () => (await publisher.checkQueue(names.readQ)).messageCount === 0 || undefined, 5000, 'the expired message dropped');
    publisher.sendToQueue(names.readQ, Buffer.from('poison'), { expiration: '60000', headers: { 'x-test': 'kept' } });
    await publisher.waitForConfirms();
    // A consumer that never settles it: every delivery ends with a return, as when a worker dies holding it.
    const consumer = await channelOf(connection);
    const counts: (number | undefined)[] = [];
    await consumer.consume(
      names.readQ,
      (message) => {
        if (!message) return;
        counts.push(message.properties.headers?.['x-delivery-count'] as number | undefined);
        consumer.nack(message, false, true);
      },
      { noAck: false },
    );
    const checker = await channelOf(connection);
    await until(async () => (await checker.checkQueue(names.refusedQ)).messageCount === 1 || undefined, 10_000, 'the poison message dead-lettered');
    expect(counts).toHaveLength(DELIVERY_LIMIT + 1);
    expect((await checker.checkQueue(names.readQ)).messageCount).toBe(0);
    const kept = await checker.get(names.refusedQ, { noAck: true });
    expect(kept === false ? undefined : kept.content.toString()).toBe('poison');
    const headers = (kept ? kept.properties.headers : {}) as Record<string, unknown>;
    expect(headers['x-first-death-reason']).toBe('delivery_limit');
    expect(headers['x-first-death-queue']).toBe(names.readQ);
    expect(headers['x-test']).toBe('kept');
    expect(await checker.get(names.refusedQ, { noAck: true })).toBe(false);
  });

  it('a queue an older version declared classic is used as it is, and reported', async () => {
    const old = await channelOf(connection);
    await old.assertQueue(names.writeQ, { durable: true });
    expect(await assertTopology(connection, names)).toEqual({ declaredOtherwise: [names.writeQ] });
    // The others are this version's, and the old one still carries messages.
    const channel = await channelOf(connection);
    for (const [queue, options] of queueDeclarations(names)) if (queue !== names.writeQ) await channel.assertQueue(queue, options);
    channel.sendToQueue(names.writeQ, Buffer.from('still served'));
    await until(async () => (await channel.get(names.writeQ, { noAck: true })) || undefined, 5000, 'the message through the old queue');
  });
});
