/**
 * The door of readQ and writeQ: signed commands, decoded (one, or a batch's). A signed message
 * that does not decode is answered with its error (a 400 to its caller); every refused message is
 * acked on the channel it came on.
 */
import type { Channel } from 'amqplib';
import { decodeCommands } from '../protocol/messages.ts';
import { Inbox } from './Inbox.ts';
import type { Refusals } from './RefusedMessages.ts';
import { failure, reply } from './replies.ts';
import type { MessageSigner } from './signing.ts';

export type Commands = ReturnType<typeof decodeCommands>;

export interface CommandInboxOptions {
  from: 'readQ' | 'writeQ';
  signer: MessageSigner;
  refused: Refusals;
  /** The channel the queue is consumed on (a master opens a new one after losing it). */
  channel(): Channel | undefined;
}

export function commandInbox({ from, signer, refused, channel }: CommandInboxOptions): Inbox<Commands> {
  return new Inbox<Commands>({
    from,
    what: `command on ${from}`,
    signer,
    refused,
    decode: (message) => decodeCommands(message.content),
    settle: (message) => channel()?.ack(message),
    answerMalformed: (message, error) => {
      const open = channel();
      if (open) reply(open, message, failure(error));
    },
  });
}
