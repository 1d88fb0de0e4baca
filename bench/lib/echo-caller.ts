/**
 * The asking side of the bare RPC echo: publishes a body to the echo's queue with a correlation
 * id and a reply-to, and resolves with the reply's body, matched by that id (undefined when none
 * came within the deadline). Replies come back by RabbitMQ's direct reply-to, or on an exclusive
 * queue of the asker's own (as the orchestrator receives its replies, so that their address can be signed).
 */
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';

/** Where the echo's replies come back. */
export type ReplyRoute = 'direct reply-to' | 'exclusive queue';

export interface EchoCaller {
  call(body: Buffer): Promise<Buffer | undefined>;
  close(): Promise<void>;
}

const DEADLINE_MS = 5000;

export async function openEchoCaller(amqpUrl: string, queue: string, route: ReplyRoute): Promise<EchoCaller> {
  const connection = await amqp.connect(amqpUrl, { noDelay: true });
  try {
    const channel = await connection.createChannel();
    const pending = new Map<string, (reply: Buffer | undefined) => void>();
    const replyTo = route === 'direct reply-to' ? 'amq.rabbitmq.reply-to' : (await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false })).queue;
    await channel.consume(replyTo, (message) => message && pending.get(message.properties.correlationId as string)?.(message.content), { noAck: true });
    const call = (body: Buffer) =>
      new Promise<Buffer | undefined>((resolve) => {
        const id = randomUUID();
        const answer = (reply: Buffer | undefined) => {
          clearTimeout(timer);
          pending.delete(id);
          resolve(reply);
        };
        const timer = setTimeout(() => answer(undefined), DEADLINE_MS);
        pending.set(id, answer);
        channel.sendToQueue(queue, body, { correlationId: id, replyTo });
      });
    return { call, close: () => connection.close() };
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw error;
  }
}
