/**
 * The baseline: a bare RabbitMQ RPC (direct reply-to) to an echo process, measured in the same
 * run on the same machine as the database service, so ratios to it say what our layers cost.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { runLoad, type LoadResult } from './load.ts';

const REPLIER = fileURLToPath(new URL('./echo-replier.ts', import.meta.url));
export const ECHO_LABEL = 'bare RabbitMQ RPC echo';

export async function measureRpcEcho(amqpUrl: string, requests: number): Promise<LoadResult[]> {
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
    await channel.consume('amq.rabbitmq.reply-to', (message) => message && pending.get(message.properties.correlationId as string)?.(), { noAck: true });
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
        channel.sendToQueue(queue, body, { correlationId: id, replyTo: 'amq.rabbitmq.reply-to' });
      });
    return [
      await runLoad({ label: ECHO_LABEL, concurrency: 1, requests: Math.min(requests, 3000), task: call }),
      await runLoad({ label: ECHO_LABEL, concurrency: 64, requests, task: call }),
    ];
  } finally {
    await connection.close();
    replier.kill('SIGTERM');
  }
}
