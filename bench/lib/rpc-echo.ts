/**
 * The baseline: a bare RabbitMQ RPC (direct reply-to) to an echo process, measured in the same
 * run on the same machine as the database service, so ratios to it say what our layers cost.
 * The same echo answered on an exclusive reply queue of the asker's own (as the orchestrator
 * receives its replies, so that their address can be signed) shows what leaving direct reply-to
 * costs by itself.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { runLoad, type LoadResult } from './load.ts';

const REPLIER = fileURLToPath(new URL('./echo-replier.ts', import.meta.url));
export const ECHO_LABEL = 'bare RabbitMQ RPC echo';
export const ECHO_EXCLUSIVE_LABEL = 'bare RabbitMQ RPC echo, exclusive reply queue';

/** Where the echo's replies come back: RabbitMQ's direct reply-to, or an exclusive queue of the asker's own. */
type ReplyRoute = 'direct reply-to' | 'exclusive queue';

export async function measureRpcEcho(amqpUrl: string, requests: number): Promise<LoadResult[]> {
  return [...(await measureEchoVia(amqpUrl, requests, 'direct reply-to')), ...(await measureEchoVia(amqpUrl, requests, 'exclusive queue'))];
}

async function measureEchoVia(amqpUrl: string, requests: number, route: ReplyRoute): Promise<LoadResult[]> {
  const label = route === 'direct reply-to' ? ECHO_LABEL : ECHO_EXCLUSIVE_LABEL;
  const queue = `bench-echo-${randomUUID()}`;
  const replier = fork(REPLIER, [amqpUrl, queue], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  await new Promise<void>((resolve, reject) => {
    replier.once('message', () => resolve());
    replier.once('exit', (code) => reject(new Error(`echo replier exited with ${code}`)));
  });
  const connection = await amqp.connect(amqpUrl, { noDelay: true });
  try {
    const channel = await connection.createChannel();
    const pending = new Map<string, () => void>();
    const replyTo = route === 'direct reply-to' ? 'amq.rabbitmq.reply-to' : (await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false })).queue;
    await channel.consume(replyTo, (message) => message && pending.get(message.properties.correlationId as string)?.(), { noAck: true });
    const body = Buffer.from(JSON.stringify({ v: 1, kind: 'read', query: { table: 'users', where: { username: 'someone' } } }));
    const call = () =>
      new Promise<boolean>((resolve) => {
        const id = randomUUID();
        const timer = setTimeout(() => {
          pending.delete(id);
          resolve(false);
        }, 5000);
        pending.set(id, () => {
          clearTimeout(timer);
          pending.delete(id);
          resolve(true);
        });
        channel.sendToQueue(queue, body, { correlationId: id, replyTo });
      });
    return [await runLoad({ label, concurrency: 1, requests: Math.min(requests, 3000), task: call }), await runLoad({ label, concurrency: 64, requests, task: call })];
  } finally {
    await connection.close();
    replier.kill('SIGTERM');
  }
}
