import type { Channel, ConsumeMessage } from 'amqplib';
import { encode, PROTOCOL_VERSION } from '../protocol/messages.ts';
import type { Reply } from '../protocol/reply.ts';
import { isWireErrorCode } from '../protocol/wire-errors.ts';
import type { MessageSigner } from './signing.ts';

/**
 * A reply never expires (0, as a sync message): its asker takes it only on its own exclusive
 * queue, named inside the signature, and only for a correlation id still in flight, which is
 * never asked twice, so a replayed reply answers nothing. An expiry would add no protection and
 * would compare the answering worker's clock with its asker's on another host: a master whose
 * clock was stepped 30 s behind had every answer refused as expired on arrival, and its callers
 * waited out their deadlines for writes it had applied.
 */
const REPLY_EXPIRES_AT = 0;

/**
 * Answers an RPC request on its reply-to address (the asker's own exclusive queue), signed: the
 * asker takes a reply only from a worker of the cluster, to its own question.
 */
export function reply<T>(channel: Channel, signer: MessageSigner, request: ConsumeMessage, body: Reply<T>): void {
  sendReply(channel, signer, request, encode(body));
}

/** Sends an answer already encoded, signed for its asker. */
export function sendReply(channel: Channel, signer: MessageSigner, request: ConsumeMessage, content: Buffer): void {
  const replyTo = request.properties.replyTo as string | undefined;
  if (!replyTo) return;
  const correlationId = request.properties.correlationId as string | undefined;
  const properties = signer.seal({ to: replyTo, ...(correlationId === undefined ? {} : { correlationId }), expiresAt: REPLY_EXPIRES_AT }, content);
  channel.sendToQueue(replyTo, content, { ...properties, contentType: 'application/json' });
}

export function ok<T>(result: T): Reply<T> {
  return { v: PROTOCOL_VERSION, ok: true, result };
}

/** A coded error travels with its code when the protocol knows it; anything else is INTERNAL. */
export function failure(error: unknown): Reply<never> {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return { v: PROTOCOL_VERSION, ok: false, code: isWireErrorCode(code) ? code : 'INTERNAL', message };
}
