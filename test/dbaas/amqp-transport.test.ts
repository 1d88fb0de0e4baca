/**
 * The AMQP write batching reaches into amqplib's internals (src/dbaas/transport/amqp.ts): this
 * fails when an amqplib upgrade moves them, rather than letting the batching vanish unnoticed.
 */
import { describe, expect, it } from 'vitest';
import { connectAmqp, writesCoalesced } from '../../src/dbaas/transport/amqp.ts';
import { testServers } from '../../harness/inject.ts';

describe('AMQP connections', () => {
  it('batch their frame writes: amqplib still exposes the socket the batching wraps', async () => {
    const model = await connectAmqp(testServers().amqpUrl);
    try {
      expect(writesCoalesced(model)).toBe(true);
      // Still a working connection: a round trip through a queue of its own.
      const channel = await model.createChannel();
      const { queue } = await channel.assertQueue('', { exclusive: true });
      channel.sendToQueue(queue, Buffer.from('ping'));
      const message = await new Promise<string>((resolve) => void channel.consume(queue, (m) => m && resolve(m.content.toString()), { noAck: true }));
      expect(message).toBe('ping');
    } finally {
      await model.close();
    }
  });
});
