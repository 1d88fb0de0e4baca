/**
 * The baseline: a bare RabbitMQ RPC (direct reply-to) to an echo process, measured in the same
 * run on the same machine as the database service, so ratios to it say what our layers cost.
 * The same echo answered on an exclusive reply queue of the asker's own (as the orchestrator
 * receives its replies, so that their address can be signed) shows what leaving direct reply-to
 * costs by itself.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type BenchChild, forkBenchChild } from './bench-child.ts';
import { openEchoCaller, type ReplyRoute } from './echo-caller.ts';
import type { EchoQueueType } from './echo-queue.ts';
import { runLoad, type LoadResult } from './load.ts';

const REPLIER = fileURLToPath(new URL('./echo-replier.ts', import.meta.url));
export const ECHO_LABEL = 'bare RabbitMQ RPC echo';
export const ECHO_EXCLUSIVE_LABEL = 'bare RabbitMQ RPC echo, exclusive reply queue';
/** What the echo is asked: the shape of a db/read point read. */
export const ECHO_BODY = Buffer.from(JSON.stringify({ v: 1, kind: 'read', query: { table: 'users', where: { username: 'someone' } } }));

export interface EchoReplier extends BenchChild {
  queue: string;
}

/** An echo replier on a queue of its own, of the given type. */
export async function startEchoReplier(amqpUrl: string, type: EchoQueueType = 'classic'): Promise<EchoReplier> {
  const queue = `bench-echo-${type}-${randomUUID()}`;
  const { pid, stop } = await forkBenchChild<string>(REPLIER, [amqpUrl, queue, type]);
  return { pid, queue, stop };
}

export async function measureRpcEcho(amqpUrl: string, requests: number): Promise<LoadResult[]> {
  return [...(await measureEchoVia(amqpUrl, requests, 'direct reply-to')), ...(await measureEchoVia(amqpUrl, requests, 'exclusive queue'))];
}

async function measureEchoVia(amqpUrl: string, requests: number, route: ReplyRoute): Promise<LoadResult[]> {
  const label = route === 'direct reply-to' ? ECHO_LABEL : ECHO_EXCLUSIVE_LABEL;
  const replier = await startEchoReplier(amqpUrl);
  try {
    const caller = await openEchoCaller(amqpUrl, replier.queue, route);
    try {
      const call = () => caller.call(ECHO_BODY).then((reply) => reply !== undefined);
      return [await runLoad({ label, concurrency: 1, requests: Math.min(requests, 3000), task: call }), await runLoad({ label, concurrency: 64, requests, task: call })];
    } finally {
      await caller.close();
    }
  } finally {
    await replier.stop();
  }
}
