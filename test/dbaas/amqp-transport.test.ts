/**
 * The AMQP write batching reaches into amqplib's internals (src/dbaas/transport/amqp.ts): this
 * fails when an amqplib upgrade moves them, rather than letting the batching vanish unnoticed.
 */
import { describe, expect, it } from 'vitest';
import { connectAmqp, writesCoalesced } from '../../src/dbaas/transport/amqp.ts';
import { testServers } from '../../harness/inject.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { redactUrl } from '../../src/shared/redact.ts';

/** A node that refuses connections at once: nothing listens on port 1. */
const DEAD_NODE = 'amqp://rideshare:dead-node-password@127.0.0.1:1/rideshare';

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

  it('take several nodes of a cluster, comma-separated, and connect to one that accepts', async () => {
    const live = testServers().amqpUrl;
    const model = await connectAmqp(`${DEAD_NODE}, ${live}`);
    try {
      const channel = await model.createChannel();
      await channel.checkQueue((await channel.assertQueue('', { exclusive: true })).queue);
    } finally {
      await model.close();
    }
    // Every node down: one error naming each of them, passwords hidden.
    const failure = await connectAmqp(`${DEAD_NODE},amqp://rideshare:other-password@127.0.0.1:2/rideshare`).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'UNAVAILABLE' });
    expect(String((failure as Error).message)).toContain('127.0.0.1:1');
    expect(String((failure as Error).message)).toContain('127.0.0.1:2');
    expect(String((failure as Error).message)).not.toContain('password@');
  });

  it('refuse an address list with a part that is not an AMQP URL, naming it', async () => {
    await expect(connectAmqp(`${testServers().amqpUrl},http://elsewhere:5672`)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('http:') });
    expect(() => loadConfig({ AMQP_URL: 'amqp://a:5672/v, not a url' })).toThrow(/AMQP_URL: "not a url"/);
    expect(loadConfig({ AMQP_URL: 'amqp://u:p@a:5672/v,amqp://u:p@b:5672/v' }).AMQP_URL).toBe('amqp://u:p@a:5672/v,amqp://u:p@b:5672/v');
  });

  it('hide the password of every node of a list in logs', () => {
    expect(redactUrl('amqp://u:secret1@a:5672/v,amqp://u:secret2@b:5672/v')).toBe('amqp://u:***@a:5672/v,amqp://u:***@b:5672/v');
  });
});
