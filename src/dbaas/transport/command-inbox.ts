/**
 * The door of readQ and writeQ: commands signed by an orchestrator (or, on writeQ, a joining
 * replica asking the master's position), decoded (one, or a batch's). A signed message
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
    // Commands come from orchestrators; a joining replica asks the master's position on writeQ.
    senders: from === 'readQ' ? ['orchestrator'] : ['orchestrator', 'replica'],
    refused,
    decode: (message) => decodeCommands(message.content),
    settle: (message) => channel()?.ack(message),
    answerMalformed: (message, _envelope, error) => {
      const open = channel();
      if (open) reply(open, signer, message, failure(error));
    },
  });
}
