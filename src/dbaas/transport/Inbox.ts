/**
 * The one door every message of the database service comes in through: a command on readQ or
 * writeQ, a sync message, a snapshot request, signal or acknowledgement, a worker's reply. The
 * security rule lives here once: a message whose signature does not hold with the cluster key is
 * refused, kept on the refused queue (or logged) and settled, never decoded; one that holds but
 * is not a message of this protocol is refused and kept the same way, and its sender may be told
 * so. Only what passes both reaches the consumer, decoded.
 */
import type { ConsumeMessage } from 'amqplib';
import type { Refusals } from './RefusedMessages.ts';
import type { MessageSigner } from './signing.ts';

export interface InboxOptions<T> {
  /** Where the message came from, as logs and the refused queue name it: writeQ, readQ, sync, snapshotQ... */
  from: string;
  /** What one message is, for the refusal texts: "command on writeQ", "sync message"... */
  what: string;
  signer: MessageSigner;
  refused: Refusals;
  /** The message decoded with its schema; throws when it is not a message of this protocol. */
  decode(message: ConsumeMessage): T;
  /** Hands a refused message back to the broker (an ack); a consumer without acks leaves it out. */
  settle?(message: ConsumeMessage): void;
  /** A signed message that does not decode: its sender is told why (a command's 400). */
  answerMalformed?(message: ConsumeMessage, error: unknown): void;
}

export class Inbox<T> {
  constructor(private readonly options: InboxOptions<T>) {}

  /** The message decoded, or undefined when it was refused (and already kept and settled). */
  take(message: ConsumeMessage): T | undefined {
    const { from, what, signer, refused } = this.options;
    if (!signer.verify(message)) {
      // Not from the cluster: not executed, and no answer (its reply-to is nobody we serve).
      refused.keep(message, from, `refusing an unsigned ${what}`);
      this.options.settle?.(message);
      return undefined;
    }
    try {
      return this.options.decode(message);
    } catch (error) {
      refused.keep(message, from, `refusing a malformed ${what}`, error);
      this.options.answerMalformed?.(message, error);
      this.options.settle?.(message);
      return undefined;
    }
  }
}
