/**
 * Runs inside a host of a bed for stream-probe.ts: one AMQP task against URL, given as JSON in
 * argv[2], its findings as JSON lines on stdout. The tasks:
 *   declare  a queue with the arguments given: whether the node takes them, and how long it took;
 *   bench    `count` persistent messages of `size` bytes with `inflight` unconfirmed at most:
 *            each publish's confirm latency and the rate;
 *   publish  one message after another (`inflight` at a time) until the connection goes or the
 *            process is killed: every confirm and nack, with its sequence number and time;
 *   consume  basic.consume from `offset` ('first', 'last', 'next', a number, or {ts: epoch ms}),
 *            with `prefetch` (null: no basic.qos) and manual acks unless `noAck`: every delivery's
 *            x-stream-offset header and body, until `max` deliveries, `idleMs` without one, or the
 *            connection going.
 * A body is `<tag>:<seq>|` padded to `size`: a consumer tells which publisher and which publish.
 * Every call to the broker is bounded (TASK_TIMEOUT_MS, or the task's own `timeoutMs`).
 */
import amqp, { type Channel, type ConfirmChannel, type ChannelModel } from 'amqplib';

interface Task {
  task: 'declare' | 'bench' | 'publish' | 'consume';
  url: string;
  queue: string;
  arguments?: Record<string, unknown>;
  size?: number;
  count?: number;
  inflight?: number;
  tag?: string;
  offset?: string | number | { ts: number };
  prefetch?: number | null;
  noAck?: boolean;
  /** Never ack (manual acks asked): how far the prefetch lets deliveries go. */
  hold?: boolean;
  max?: number;
  idleMs?: number;
  timeoutMs?: number;
}

const TASK_TIMEOUT_MS = 60_000;
const task = JSON.parse(process.argv[2] ?? '{}') as Task;
const say = (event: string, fields: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...fields })}\n`);

function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms).unref())]);
}

function body(tag: string, seq: number, size: number): Buffer {
  const head = `${tag}:${seq}|`;
  return Buffer.from(head.padEnd(size, 'x'));
}

async function connect(): Promise<ChannelModel> {
  // A 5 s heartbeat, as the product's clients: a cut shows as a lost connection in 10-15 s.
  const url = new URL(task.url);
  url.searchParams.set('heartbeat', '5');
  const model = await bounded(amqp.connect(url.toString(), { noDelay: true, timeout: 10_000 }), 15_000, 'connect');
  model.on('error', (error: Error) => say('connection-error', { message: error.message }));
  return model;
}

async function declare(model: ChannelModel): Promise<void> {
  const channel = await model.createChannel();
  let channelError = '';
  channel.on('error', (error: Error) => (channelError = error.message));
  const began = performance.now();
  try {
    await bounded(channel.assertQueue(task.queue, { durable: true, arguments: task.arguments }), task.timeoutMs ?? TASK_TIMEOUT_MS, 'queue.declare');
    say('declared', { ok: true, ms: Math.round(performance.now() - began) });
  } catch (error) {
    say('declared', { ok: false, ms: Math.round(performance.now() - began), error: channelError || (error as Error).message });
  }
}

/** Publishes with at most `inflight` unconfirmed; `onConfirm` gets each answer with its latency. */
async function publishLoop(channel: ConfirmChannel, count: number, onConfirm: (seq: number, ok: boolean, ms: number) => void): Promise<void> {
  const inflight = task.inflight ?? 1;
  const size = task.size ?? 300;
  const tag = task.tag ?? 'p';
  let next = 0;
  let open = 0;
  let wake: (() => void) | undefined;
  while (next < count) {
    while (open >= inflight) await new Promise<void>((resolve) => (wake = resolve));
    const seq = next++;
    const sent = performance.now();
    open++;
    channel.sendToQueue(task.queue, body(tag, seq, size), { persistent: true }, (error) => {
      open--;
      onConfirm(seq, !error, performance.now() - sent);
      wake?.();
    });
  }
  while (open > 0) await new Promise<void>((resolve) => (wake = resolve));
}

function quantile(sorted: number[], q: number): number {
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? NaN) * 100) / 100;
}

async function bench(model: ChannelModel): Promise<void> {
  const channel = await model.createConfirmChannel();
  const count = task.count ?? 500;
  const latencies: number[] = [];
  let nacks = 0;
  const began = performance.now();
  await bounded(
    publishLoop(channel, count, (_seq, ok, ms) => {
      latencies.push(ms);
      if (!ok) nacks++;
    }),
    task.timeoutMs ?? TASK_TIMEOUT_MS,
    'publishing',
  );
  const seconds = (performance.now() - began) / 1000;
  latencies.sort((a, b) => a - b);
  say('bench', { count, nacks, perSecond: Math.round(count / seconds), medianMs: quantile(latencies, 0.5), p90Ms: quantile(latencies, 0.9), p99Ms: quantile(latencies, 0.99) });
}

async function publish(model: ChannelModel): Promise<void> {
  const channel = await model.createConfirmChannel();
  channel.on('error', (error: Error) => say('channel-error', { message: error.message }));
  say('ready');
  // Confirms and nacks as they come; the process ends with its connection (the probe watches for 'closed').
  await publishLoop(channel, task.count ?? Number.MAX_SAFE_INTEGER, (seq, ok) => say(ok ? 'confirm' : 'nack', { seq }));
}

function offsetArgument(offset: Task['offset']): unknown {
  if (offset !== null && typeof offset === 'object') return { '!': 'timestamp', value: Math.floor(offset.ts / 1000) };
  return offset ?? 'next';
}

async function consume(model: ChannelModel): Promise<void> {
  const channel: Channel = await model.createChannel();
  let done: (reason: string) => void = () => undefined;
  const finished = new Promise<string>((resolve) => (done = resolve));
  const errors: string[] = [];
  channel.on('error', (error: Error) => {
    errors.push(error.message);
    done(`channel error: ${error.message}`);
  });
  // A close's error, if any, may come after it: the end waits a moment to report it too.
  channel.on('close', () => setTimeout(() => done('channel closed'), 200));
  model.on('close', () => done('connection closed'));
  if (task.prefetch !== null) await channel.prefetch(task.prefetch ?? 100);
  let received = 0;
  let idle: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idle);
    if (task.idleMs !== undefined) idle = setTimeout(() => done('idle'), task.idleMs);
  };
  armIdle();
  try {
    await bounded(
      channel.consume(
        task.queue,
        (message) => {
          if (!message) return done('cancelled by the broker');
          const text = message.content.toString('utf8', 0, Math.min(64, message.content.length));
          const offset = message.properties.headers?.['x-stream-offset'] as unknown;
          say('delivery', { offset: typeof offset === 'bigint' ? Number(offset) : offset, body: text.split('|')[0], redelivered: message.fields.redelivered });
          if (!task.noAck && !task.hold) channel.ack(message);
          received++;
          armIdle();
          if (task.max !== undefined && received >= task.max) done('max');
        },
        { noAck: task.noAck ?? false, arguments: { 'x-stream-offset': offsetArgument(task.offset) } },
      ),
      task.timeoutMs ?? TASK_TIMEOUT_MS,
      'basic.consume',
    );
  } catch (error) {
    errors.push((error as Error).message);
    setTimeout(() => done(`consume refused: ${(error as Error).message}`), 200);
  }
  const reason = await finished;
  clearTimeout(idle);
  say('end', { reason, received, errors });
}

const model = await connect();
model.on('close', () => {
  say('closed');
  // A publisher's or a consumer's lost connection ends the task; the probe reads 'closed'.
  setTimeout(() => process.exit(0), 50);
});
const tasks = { declare, bench, publish, consume };
try {
  await tasks[task.task](model);
} catch (error) {
  say('error', { message: (error as Error).message });
}
await bounded(model.close(), 5000, 'connection.close').catch(() => undefined);
process.exit(0);
