/**
 * The queues and the exchange of one cluster, declared identically by every process that uses
 * them (RabbitMQ refuses a second declaration with different arguments).
 */
import type { Channel } from 'amqplib';
import type { ClusterNames } from './names.ts';

export async function assertTopology(channel: Channel, names: ClusterNames): Promise<void> {
  for (const queue of names.allQueues()) await channel.assertQueue(queue, { durable: true });
  await channel.assertExchange(names.syncExchange, 'fanout', { durable: true });
}

/** AMQP connection options shared by every process: Nagle off (41 ms per RPC otherwise), short heartbeat. */
export const AMQP_SOCKET_OPTIONS = { noDelay: true, timeout: 5000 } as const;

/** A short heartbeat lets the broker drop a dead peer's connection, and its exclusive consumers, quickly. */
export function withHeartbeat(url: string, seconds = 5): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(seconds));
  return parsed.toString();
}
