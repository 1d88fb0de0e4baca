/**
 * The queues and the exchange of one cluster, declared identically by every process that uses
 * them (RabbitMQ refuses a second declaration with different arguments).
 */
import type { Channel } from 'amqplib';
import type { ClusterNames } from '../protocol/names.ts';
import { REFUSED_QUEUE_OPTIONS } from './RefusedMessages.ts';

export async function assertTopology(channel: Channel, names: ClusterNames): Promise<void> {
  for (const queue of [names.readQ, names.writeQ, names.snapshotQ]) await channel.assertQueue(queue, { durable: true });
  await channel.assertQueue(names.refusedQ, REFUSED_QUEUE_OPTIONS);
  await channel.assertExchange(names.syncExchange, 'fanout', { durable: true });
}
