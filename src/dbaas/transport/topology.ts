/**
 * The queues and exchanges of one cluster, declared identically by every process that uses them
 * (RabbitMQ refuses a second declaration with other arguments, and closes the channel that tried).
 *
 * readQ, writeQ, snapshotQ and the refused queue are quorum queues: replicated by Raft on a cluster
 * of brokers, so what they hold outlives a node, and a node cut off from the majority cannot go on
 * confirming publishes nobody else will see (a classic queue lives on one node). On a single node
 * (`npm start`) they are the same queues with a quorum of one.
 *
 * writeQ has a single active consumer: RabbitMQ 3.10 ignores the `exclusive` flag of a consume on
 * a quorum queue, so that flag can no longer keep two masters apart. A new master's consume is
 * accepted at once and waits; it becomes the active one, with the messages its predecessor left
 * unacked first and in order, when the predecessor's channel closes.
 *
 * A message returned to its queue more than DELIVERY_LIMIT times (a poison message that kills
 * each consumer it reaches, or a write that outlives that many failovers) is dead-lettered, not
 * looped: the dead-letter exchange keeps exactly those on the refused queue, with the broker's
 * x-death header saying why, while messages that merely expired are dropped as before (their
 * callers were answered 503 at their deadline).
 *
 * The sync log is a stream bound to the sync fanout: one totally ordered log that the broker
 * replicates on every node and confirms once a majority holds it, which every replica reads from
 * the offset where it joined. Retention bounds it by size; a replica that falls behind what is
 * kept finds a gap and copies a snapshot again.
 *
 * A queue that already exists with another declaration (a classic queue made by an older version
 * of the service, on a broker that kept its data) is used as it is and reported: the supervisor
 * converts it when no worker runs (src/dbaas/supervisor/queue-conversion.ts).
 */
import type { Channel, ChannelModel, Options } from 'amqplib';
import type { ClusterNames } from '../protocol/names.ts';
import { REFUSED_QUEUE_OPTIONS } from './RefusedMessages.ts';

/** Returns of one message to its queue before the next one dead-letters it; a failover returns the master's unacked messages once. */
export const DELIVERY_LIMIT = 10;

/** The x-death reason RabbitMQ gives a message dead-lettered for its delivery limit. */
const DELIVERY_LIMIT_REASON = 'delivery_limit';

/**
 * What the sync log keeps: the newest SYNC_LOG_MAX_BYTES, in segments of SYNC_LOG_SEGMENT_BYTES
 * (RabbitMQ drops whole segments, so the log holds between the two). A replica needs it only for
 * what it has not applied yet, seconds at most while it follows; 256 MiB is about a million writes.
 */
export const SYNC_LOG_MAX_BYTES = 256 * 1024 * 1024;
const SYNC_LOG_SEGMENT_BYTES = 16 * 1024 * 1024;

/** The sync log's declaration (src/dbaas/replication/SyncFollower.ts reads it). */
export const SYNC_LOG_DECLARATION: Options.AssertQueue = {
  durable: true,
  arguments: {
    'x-queue-type': 'stream',
    'x-max-length-bytes': SYNC_LOG_MAX_BYTES,
    'x-stream-max-segment-size-bytes': SYNC_LOG_SEGMENT_BYTES,
    // The leader on the node of the process that declares it first: the database host's, whose
    // master publishes to it (a leader elsewhere costs a hop per group).
    'x-queue-leader-locator': 'client-local',
  },
};

/** Every product queue with its declaration, in the order they are declared. */
export function queueDeclarations(names: ClusterNames): Map<string, Options.AssertQueue> {
  const requests = (extra: Record<string, unknown> = {}): Options.AssertQueue => ({
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': DELIVERY_LIMIT,
      'x-dead-letter-exchange': names.deadLetterExchange,
      ...extra,
    },
  });
  return new Map<string, Options.AssertQueue>([
    [names.readQ, requests()],
    [names.writeQ, requests({ 'x-single-active-consumer': true })],
    [names.snapshotQ, requests()],
    [names.refusedQ, REFUSED_QUEUE_OPTIONS],
  ]);
}

export interface TopologyReport {
  /** Queues found declared otherwise (an older version's classic queues), used as they are. */
  declaredOtherwise: string[];
}

/**
 * Declares the cluster's topology on channels of its own (a refused declaration closes its
 * channel, and the caller's channels must survive that).
 */
export async function assertTopology(connection: ChannelModel, names: ClusterNames): Promise<TopologyReport> {
  const declaredOtherwise: string[] = [];
  let channel = await openQuietChannel(connection);
  try {
    for (const [queue, options] of queueDeclarations(names)) {
      try {
        await channel.assertQueue(queue, options);
      } catch (error) {
        if (!isPreconditionFailed(error)) throw error;
        channel = await openQuietChannel(connection);
        // It exists (a passive check fails otherwise): serve it as it is until it is converted.
        await channel.checkQueue(queue);
        declaredOtherwise.push(queue);
      }
    }
    await channel.assertExchange(names.syncExchange, 'fanout', { durable: true });
    await channel.assertExchange(names.deadLetterExchange, 'headers', { durable: true });
    // 'all-with-x': a plain 'all' ignores x- headers, so it would match every dead letter.
    await channel.bindQueue(names.refusedQ, names.deadLetterExchange, '', { 'x-match': 'all-with-x', 'x-first-death-reason': DELIVERY_LIMIT_REASON });
  } finally {
    await channel.close().catch(() => undefined);
  }
  return { declaredOtherwise };
}

/**
 * The sync log and its binding to the sync fanout. Only a supervisor and a new master declare it
 * (its leader is the declaring connection's node: cluster-bootstrap.ts); everyone else finds it.
 */
export async function assertSyncLog(connection: ChannelModel, names: ClusterNames): Promise<void> {
  const channel = await openQuietChannel(connection);
  try {
    await channel.assertExchange(names.syncExchange, 'fanout', { durable: true });
    await channel.assertQueue(names.syncLog, SYNC_LOG_DECLARATION);
    await channel.bindQueue(names.syncLog, names.syncExchange, '');
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/** A channel whose failure is reported by the call that failed, not by an unhandled 'error' event. */
export async function openQuietChannel(connection: ChannelModel): Promise<Channel> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  return channel;
}

/** RabbitMQ's 406: a declaration that contradicts the existing one (or a delete whose condition fails). */
export function isPreconditionFailed(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 406;
}
