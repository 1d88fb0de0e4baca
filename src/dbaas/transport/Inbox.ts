/**
 * The one door every message of the database service comes in through: a command on readQ or
 * writeQ, a sync message, a snapshot request, signal or acknowledgement, a worker's reply. The
 * security rule lives here once: a message whose signature does not hold with the cluster key
 * (src/dbaas/transport/signing.ts), that has expired, that comes from a role that may not send
 * it here or that the consumer did not expect (a reply to nothing it asked) is refused, kept on
 * the refused queue (or logged) and settled, never decoded; one that holds but is not a message
 * of this protocol is refused and kept the same way, and its sender may be told so. Only what
 * passes reaches the consumer, decoded, with its envelope.
 */
import type { ConsumeMessage } from 'amqplib';
import type { Refusals } from './RefusedMessages.ts';
import { isOpened, type MessageSigner, type Opened, type SenderRole } from './signing.ts';

export interface InboxOptions<T> {
  /** Where the message came from, as logs and the refused queue name it: writeQ, readQ, sync, snapshotQ... */
  from: string;
  /** What one message is, for the refusal texts: "command on writeQ", "sync message"... */
  what: string;
  signer: MessageSigner;
  /** The roles that may send this kind of message. */
  senders: readonly SenderRole[];
  refused: Refusals;
  /** A further rule of this consumer (the reply answers a question it asked): why not, or undefined. */
  check?(envelope: Opened, message: ConsumeMessage): string | undefined;
  /** The message decoded with its schema; throws when it is not a message of this protocol. */
  decode(message: ConsumeMessage, envelope: Opened): T;
  /** Hands a refused message back to the broker (an ack); a consumer without acks leaves it out. */
  settle?(message: ConsumeMessage): void;
  /** A signed message that does not decode: its sender is told why (a command's 400). */
  answerMalformed?(message: ConsumeMessage, envelope: Opened, error: unknown): void;
}

export interface Taken<T> {
  value: T;
  envelope: Opened;
}

export class Inbox<T> {
  constructor(private readonly options: InboxOptions<T>) {}

  /** The message decoded, or undefined when it was refused (and already kept and settled). */
  take(message: ConsumeMessage): Taken<T> | undefined {
    const { what, signer, senders } = this.options;
    const envelope = signer.open(message);
    // Not from the cluster, or stale: not executed, and no answer (its reply-to is nobody we serve).
    if (!isOpened(envelope)) return this.refuse(message, `refusing ${envelope.refused === 'unsigned' ? 'an unsigned' : 'an expired'} ${what}`);
    if (!senders.includes(envelope.sender.role)) return this.refuse(message, `refusing a ${what} signed by a ${envelope.sender.role} (${envelope.sender.id})`);
    const objection = this.options.check?.(envelope, message);
    if (objection !== undefined) return this.refuse(message, `refusing a ${what}: ${objection}`);
    try {
      return { value: this.options.decode(message, envelope), envelope };
    } catch (error) {
      this.options.refused.keep(message, this.options.from, `refusing a malformed ${what}`, error);
      this.options.answerMalformed?.(message, envelope, error);
      this.options.settle?.(message);
      return undefined;
    }
  }

  private refuse(message: ConsumeMessage, reason: string): undefined {
    this.options.refused.keep(message, this.options.from, reason);
    this.options.settle?.(message);
    return undefined;
  }
}
