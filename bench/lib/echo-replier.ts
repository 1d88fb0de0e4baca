/**
 * The other end of the bare RPC baseline: answers every message on a queue with its own body.
 * Arguments: the AMQP URL, the queue, its type (classic, the default, or quorum). It deletes its
 * queue when told to stop (SIGTERM) and when the process that forked it is gone.
 */
import amqp from 'amqplib';
import { echoQueueOptions, isEchoQueueType } from './echo-queue.ts';

const [url, queue, typeArgument] = process.argv.slice(2) as [string, string, string | undefined];
const type = isEchoQueueType(typeArgument) ? typeArgument : 'classic';
const connection = await amqp.connect(url, { noDelay: true });
const channel = await connection.createChannel();
await channel.assertQueue(queue, echoQueueOptions(type));
await channel.prefetch(64);
await channel.consume(queue, (message) => {
  if (!message) return;
  channel.sendToQueue(message.properties.replyTo as string, message.content, { correlationId: message.properties.correlationId as string });
  channel.ack(message);
});
process.send?.('ready');
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void channel
    .deleteQueue(queue)
    .then(() => connection.close())
    .finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
