/**
 * Converts the cluster's queues that an older version declared otherwise (classic queues, on a
 * broker that kept its data across the upgrade) to this version's declarations
 * (src/dbaas/transport/topology.ts), keeping every message they hold.
 *
 * RabbitMQ cannot change a queue's type: the queue must be deleted and declared again. So its
 * messages are moved to a holding queue (each acked only once the broker confirmed its copy), the
 * queue is deleted only if it is empty and unused at that instant (`ifEmpty`, `ifUnused`: a
 * message published meanwhile makes the delete fail, and the move goes on), declared anew, and the
 * held messages moved back. A conversion cut short (the supervisor dies) leaves the messages in the
 * holding queue, and the next run finishes the move back.
 *
 * It runs only when no worker of the cluster runs (a cold start, a restart from files): a worker
 * of the older version consuming the queue would lose its consumer. A queue that still has a
 * consumer then (a worker this supervisor does not know of) is left as it is and reported; the
 * processes of this version use it as it is meanwhile. A publish that reaches the name in the
 * instant between delete and declaration is not routed, as during any broker restart: its caller
 * gets a 503 at its deadline and retries with the same request id.
 */
import type { ChannelModel, ConfirmChannel, GetMessage, Options } from 'amqplib';
import type { Logger } from '../../shared/logger.ts';
import { clusterNames, type ClusterNames } from '../protocol/names.ts';
import { connectAmqp } from '../transport/amqp.ts';
import { isPreconditionFailed, openQuietChannel, queueDeclarations } from '../transport/topology.ts';

/** How many times a queue is emptied before its delete is given up for this run (publishers keep filling it). */
const DELETE_ATTEMPTS = 20;
/** Messages moved per confirm round trip. */
const MOVE_BATCH = 256;

export interface ConversionReport {
  converted: string[];
  /** Queues declared otherwise that still had consumers: left as they are. */
  inUse: string[];
  /** Messages moved into holding queues and back (each counted once). */
  moved: number;
}

/** Where a queue's messages wait while it is declared anew. */
export function holdingQueueOf(queue: string): string {
  return `${queue}.converting`;
}

const HOLDING_QUEUE_OPTIONS: Options.AssertQueue = { durable: true, arguments: { 'x-queue-type': 'quorum' } };

export async function convertQueues(connection: ChannelModel, names: ClusterNames, logger: Logger): Promise<ConversionReport> {
  const report: ConversionReport = { converted: [], inUse: [], moved: 0 };
  for (const [queue, wanted] of queueDeclarations(names)) {
    if (await declaredAsWanted(connection, queue, wanted)) {
      report.moved += await finishMoveBack(connection, queue);
      continue;
    }
    const moved = await convertOne(connection, queue, wanted);
    if (moved === undefined) {
      report.inUse.push(queue);
      continue;
    }
    report.converted.push(queue);
    report.moved += moved;
  }
  if (report.converted.length > 0 || report.moved > 0) logger.info(report, 'converted the queues of an older declaration');
  if (report.inUse.length > 0) logger.warn({ queues: report.inUse }, 'queues of an older declaration still consumed: left as they are until the next restart of the cluster');
  return report;
}

/** True when the queue exists (or is made) exactly as this version declares it. */
async function declaredAsWanted(connection: ChannelModel, queue: string, wanted: Options.AssertQueue): Promise<boolean> {
  const channel = await openQuietChannel(connection);
  try {
    await channel.assertQueue(queue, wanted);
    return true;
  } catch (error) {
    if (!isPreconditionFailed(error)) throw error;
    return false;
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/** The messages moved, or undefined when the queue is in use and was left as it was. */
async function convertOne(connection: ChannelModel, queue: string, wanted: Options.AssertQueue): Promise<number | undefined> {
  let moved = 0;
  for (let attempt = 1; ; attempt += 1) {
    if (await deleteIfEmptyAndUnused(connection, queue)) break;
    if ((await consumersOf(connection, queue)) > 0 || attempt > DELETE_ATTEMPTS) {
      // Someone consumes it (or publishers outpace us): what was moved goes back, the queue stays as it is.
      await finishMoveBack(connection, queue);
      return undefined;
    }
    await declareHolding(connection, queue);
    moved += await moveAll(connection, queue, holdingQueueOf(queue));
  }
  const declarer = await openQuietChannel(connection);
  try {
    await declarer.assertQueue(queue, wanted);
  } finally {
    await declarer.close().catch(() => undefined);
  }
  await finishMoveBack(connection, queue);
  return moved;
}

/**
 * Deletes the queue if, at that instant, it holds no message and has no consumer; false when it
 * does. Meant for a classic queue: RabbitMQ 3.10 answers an `ifEmpty` or `ifUnused` delete of a
 * quorum queue by closing the connection, which ends the conversion with an error (the queues stay
 * usable), so a quorum queue declared otherwise is not converted here.
 */
async function deleteIfEmptyAndUnused(connection: ChannelModel, queue: string): Promise<boolean> {
  const channel = await openQuietChannel(connection);
  try {
    await channel.deleteQueue(queue, { ifEmpty: true, ifUnused: true });
    return true;
  } catch (error) {
    if (!isPreconditionFailed(error)) throw error;
    return false;
  } finally {
    await channel.close().catch(() => undefined);
  }
}

async function declareHolding(connection: ChannelModel, queue: string): Promise<void> {
  const channel = await openQuietChannel(connection);
  try {
    await channel.assertQueue(holdingQueueOf(queue), HOLDING_QUEUE_OPTIONS);
  } finally {
    await channel.close().catch(() => undefined);
  }
}

async function consumersOf(connection: ChannelModel, queue: string): Promise<number> {
  const channel = await openQuietChannel(connection);
  try {
    return (await channel.checkQueue(queue)).consumerCount;
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/** Moves what a holding queue keeps back into its queue and deletes it; 0 when there is none. */
async function finishMoveBack(connection: ChannelModel, queue: string): Promise<number> {
  const holding = holdingQueueOf(queue);
  const probe = await openQuietChannel(connection);
  try {
    await probe.checkQueue(holding);
  } catch {
    return 0; // no holding queue: nothing was ever left behind
  } finally {
    await probe.close().catch(() => undefined);
  }
  const moved = await moveAll(connection, holding, queue);
  // Only a conversion publishes to a holding queue, and this one just emptied it.
  const deleter = await openQuietChannel(connection);
  try {
    if ((await deleter.checkQueue(holding)).messageCount === 0) await deleter.deleteQueue(holding);
  } finally {
    await deleter.close().catch(() => undefined);
  }
  return moved;
}

/** Moves every message of `from` to `to`, each acked in `from` only after its copy is confirmed. */
async function moveAll(connection: ChannelModel, from: string, to: string): Promise<number> {
  const channel: ConfirmChannel = await connection.createConfirmChannel();
  channel.on('error', () => undefined);
  let moved = 0;
  try {
    for (;;) {
      const batch: GetMessage[] = [];
      while (batch.length < MOVE_BATCH) {
        const message = await channel.get(from, { noAck: false });
        if (message === false) break;
        batch.push(message);
      }
      if (batch.length === 0) return moved;
      for (const message of batch) channel.sendToQueue(to, message.content, copiedProperties(message));
      await channel.waitForConfirms();
      channel.ack(batch.at(-1) as GetMessage, true);
      moved += batch.length;
    }
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/**
 * The message's own properties, signature and expiry included (the signature covers the queue's
 * name, which stays). The broker's delivery count is its own, and a user id is checked against
 * the publishing connection, so neither is copied.
 */
function copiedProperties(message: GetMessage): Options.Publish {
  const { headers, userId: _userId, ...properties } = message.properties as GetMessage['properties'] & Record<string, unknown>;
  const { 'x-delivery-count': _count, ...kept } = (headers ?? {}) as Record<string, unknown>;
  const options: Record<string, unknown> = { headers: kept, persistent: true };
  for (const [key, value] of Object.entries(properties)) if (value !== undefined && key !== 'deliveryMode') options[key] = value;
  return options as Options.Publish;
}

/**
 * What the supervisor runs when no worker runs (a first start, a restart from files): the one
 * moment the queues an older version declared otherwise (classic queues) can be declared anew
 * without taking a consumer from under a worker. A failure leaves them as they are, still usable;
 * the next such moment tries again.
 */
export function queueConverter(options: { amqpUrl: string; cluster: string; logger: Logger }): () => Promise<void> {
  return async () => {
    try {
      const connection = await connectAmqp(options.amqpUrl);
      try {
        await convertQueues(connection, clusterNames(options.cluster), options.logger);
      } finally {
        await connection.close().catch(() => undefined);
      }
    } catch (error) {
      options.logger.warn({ err: error }, 'could not convert the queues of an older declaration; they are used as they are');
    }
  };
}
