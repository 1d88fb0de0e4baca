/**
 * Runs inside a host of a bed for node-loss-stall.ts: declares a quorum queue through DECLARE_URL
 * (its leader is then on that node), then publishes to it through AMQP_URL with publisher
 * confirms, one message at a time, and tells on stdout (JSON lines) each second's count of
 * confirms and every gap longer than GAP_MS between two confirms. A quorum queue is this
 * measurement's own: the product's queues are declared in src/dbaas/transport/topology.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';

const GAP_MS = 250;
const queue = process.env.QUEUE ?? 'node-loss-stall';
const say = (event: string, fields: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...fields })}\n`);

const declarer = await amqp.connect(process.env.DECLARE_URL ?? '');
const declaring = await declarer.createChannel();
await declaring.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-max-length': 10_000 } });
await declarer.close();

const model = await amqp.connect(process.env.AMQP_URL ?? '', { noDelay: true });
model.on('error', (error: Error) => say('connection-error', { message: error.message }));
model.on('close', () => {
  say('closed');
  process.exit(3);
});
const channel = await model.createConfirmChannel();
channel.on('error', (error: Error) => say('channel-error', { message: error.message }));
say('ready');
let last = Date.now();
let count = 0;
const counter = setInterval(() => {
  say('count', { count });
  count = 0;
}, 1000);
counter.unref();
for (let seq = 0; ; seq++) {
  // A nack is told and the next message goes on: the stall, not the loss, is measured here.
  await new Promise<void>((resolve) =>
    channel.sendToQueue(queue, Buffer.from(String(seq)), { persistent: true }, (error) => {
      if (error) say('nack');
      resolve();
    }),
  );
  const now = Date.now();
  if (now - last > GAP_MS) say('gap', { from: last, to: now, ms: now - last });
  last = now;
  count++;
  await sleep(10);
}
