/**
 * The answer to one request message on readQ or writeQ: a single command's reply, or a batch's
 * replies in order, sent once every command of the message has its own. The message is acked
 * only then, so one the worker dies holding is delivered again (writes are idempotent).
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Reply } from '../protocol/reply.ts';
import { encodeWithinBound } from '../protocol/reply-bound.ts';
import { sendReply } from './replies.ts';
import type { MessageSigner } from './signing.ts';

export class RequestReply {
  private readonly replies: (Reply<unknown> | undefined)[];
  private missing: number;

  constructor(
    private readonly channel: Channel,
    /** Signs the reply as the worker's role (src/dbaas/transport/signing.ts). */
    private readonly signer: MessageSigner,
    private readonly message: ConsumeMessage,
    private readonly batched: boolean,
    count: number,
    /** Told once every command has its reply (and the message is answered). */
    private readonly onComplete: () => void = () => undefined,
  ) {
    this.replies = new Array<Reply<unknown> | undefined>(count).fill(undefined);
    this.missing = count;
  }

  /** The reply of command `index`; the first one given counts. */
  set(index: number, answer: Reply<unknown>): void {
    if (this.replies[index] !== undefined || this.missing === 0) return;
    this.replies[index] = answer;
    this.missing -= 1;
    if (this.missing > 0) return;
    this.send();
    this.onComplete();
  }

  private send(): void {
    const replies = this.replies as Reply<unknown>[];
    try {
      // The one encoding of the answer, bounded in size (a read too large is answered RESULT_TOO_LARGE).
      sendReply(this.channel, this.signer, this.message, encodeWithinBound(replies, this.batched));
      this.channel.ack(this.message);
    } catch {
      // The channel closed under us: the broker delivers the unacked message again, to whoever serves next.
    }
  }
}
