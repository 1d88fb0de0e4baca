/**
 * Snapshots travel over RabbitMQ: a joining replica asks on snapshotQ and the answer is the
 * SQLite image stamped with the seq and epoch it contains. Caught-up slaves consume snapshotQ
 * with a higher consumer priority than the master, so the master is spared when it can be.
 */
import { randomUUID } from 'node:crypto';
import type { Channel } from 'amqplib';
import { withTimeout } from '../../shared/timeout.ts';
import type { ClusterNames } from '../protocol/names.ts';
import type { Snapshot, Store } from '../worker/Store.ts';

const REPLY_TO = 'amq.rabbitmq.reply-to';

export const SNAPSHOT_PRIORITY = { slave: 10, master: 0 } as const;

/** Answers snapshot requests from `store()` (a function: a replica's store may be replaced). */
export async function serveSnapshots(channel: Channel, names: ClusterNames, store: () => Store, priority: number): Promise<string> {
  await channel.prefetch(1);
  const { consumerTag } = await channel.consume(
    names.snapshotQ,
    (message) => {
      if (!message) return;
      const snapshot = store().snapshot();
      channel.sendToQueue(message.properties.replyTo as string, snapshot.bytes, {
        correlationId: message.properties.correlationId as string,
        headers: { seq: snapshot.appliedSeq, epoch: snapshot.epoch },
      });
      channel.ack(message);
    },
    { noAck: false, priority },
  );
  return consumerTag;
}

export async function fetchSnapshot(channel: Channel, names: ClusterNames, timeoutMs: number): Promise<Snapshot> {
  const correlationId = randomUUID();
  const answer = new Promise<Snapshot>((resolve, reject) => {
    channel
      .consume(
        REPLY_TO,
        (message) => {
          if (!message || message.properties.correlationId !== correlationId) return;
          const headers = message.properties.headers ?? {};
          resolve({ bytes: message.content, appliedSeq: Number(headers.seq), epoch: Number(headers.epoch) });
        },
        { noAck: true },
      )
      .then(() => channel.sendToQueue(names.snapshotQ, Buffer.alloc(0), { replyTo: REPLY_TO, correlationId, expiration: String(timeoutMs) }))
      .catch(reject);
  });
  return withTimeout(answer, timeoutMs, 'no replica sent a snapshot');
}
