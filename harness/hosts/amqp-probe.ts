/**
 * Runs inside a host of a bed for node-loss-stall.ts, against AMQP_URL, in one of two modes:
 *   declare  declares a durable exchange of a new name and prints `{"event":"declared","ms":…}`
 *            (a change to the cluster's metadata, which every running node must take);
 *   hold     holds a connection and prints `{"event":"closed","at":…}` when the broker closes it
 *            (a node that pauses itself, pause_minority, closes its clients' connections).
 */
import amqp from 'amqplib';

const say = (event: string, fields: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...fields })}\n`);
const mode = process.argv[2];
const model = await amqp.connect(process.env.AMQP_URL ?? '');
model.on('error', () => undefined);
if (mode === 'hold') {
  model.on('close', () => {
    say('closed');
    process.exit(0);
  });
  say('holding');
  setInterval(() => undefined, 60_000);
} else {
  const channel = await model.createChannel();
  const began = Date.now();
  await channel.assertExchange(`stall-probe-${process.pid}-${began}`, 'direct', { durable: true });
  say('declared', { ms: Date.now() - began });
  await model.close();
}
