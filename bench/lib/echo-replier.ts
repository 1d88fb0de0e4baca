/** The other end of the bare RPC baseline: answers every message on a queue with its own body. */
import amqp from 'amqplib';

const [url, queue] = process.argv.slice(2) as [string, string];
const connection = await amqp.connect(url, { noDelay: true });
const channel = await connection.createChannel();
await channel.assertQueue(queue, { durable: false, autoDelete: true });
await channel.prefetch(64);
await channel.consume(queue, (message) => {
  if (!message) return;
  channel.sendToQueue(message.properties.replyTo as string, message.content, { correlationId: message.properties.correlationId as string });
  channel.ack(message);
});
process.send?.('ready');
process.on('SIGTERM', () => void connection.close().finally(() => process.exit(0)));
