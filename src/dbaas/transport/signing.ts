/**
 * Messages of the database service are signed with the cluster's key (HMAC-SHA256 of the body,
 * in a header), and a worker acts only on messages whose signature holds. Whoever can publish to
 * the broker without the key (a leaked broker password, a neighbour on a shared broker) can then
 * neither inject a command into a worker nor a write into a replica's stream. The key is
 * CLUSTER_KEY or DATA_DIR/secrets/cluster.key; every orchestrator and worker of the cluster has it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';

export const SIGNATURE_HEADER = 'x-rideshare-signature';

export class MessageSigner {
  private readonly key: Buffer;

  constructor(key: string) {
    if (key.length < 16) throw new Error('the cluster key must be at least 16 characters');
    this.key = Buffer.from(key, 'utf8');
  }

  /** The headers to publish `content` with. */
  headers(content: Buffer): Record<string, string> {
    return { [SIGNATURE_HEADER]: this.sign(content) };
  }

  /** True when the message carries a signature of its body made with this key. */
  verify(message: Pick<ConsumeMessage, 'content' | 'properties'>): boolean {
    const presented = (message.properties.headers as Record<string, unknown> | undefined)?.[SIGNATURE_HEADER];
    if (typeof presented !== 'string') return false;
    const expected = Buffer.from(this.sign(message.content), 'base64');
    const given = Buffer.from(presented, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private sign(content: Buffer): string {
    return createHmac('sha256', this.key).update(content).digest('base64');
  }
}
