/**
 * The master's side of replication: each applied write goes to the sync fanout on a confirm
 * channel. A confirm means the broker has put the message on every replica's sync queue, so a
 * write is answered only once every replica is sure to receive it.
 */
import type { ConfirmChannel } from 'amqplib';
import { encode, type SyncMessage } from '../protocol/messages.ts';

export class SyncPublisher {
  constructor(
    private readonly channel: ConfirmChannel,
    private readonly exchange: string,
  ) {}

  publish(message: SyncMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      this.channel.publish(this.exchange, '', encode(message), { contentType: 'application/json' }, (error) =>
        error ? reject(new Error(`sync publish of seq ${message.seq} was not confirmed`)) : resolve(),
      );
    });
  }
}
