import type { Channel, ConsumeMessage } from 'amqplib';
import { encode, PROTOCOL_VERSION, type Reply } from '../protocol/messages.ts';
import { isWireErrorCode } from '../protocol/wire-errors.ts';

/** Answers an RPC request on its reply-to address (the orchestrator's direct reply-to). */
export function reply<T>(channel: Channel, request: ConsumeMessage, body: Reply<T>): void {
  sendReply(channel, request, encode(body));
}

/** Sends an answer already encoded. */
export function sendReply(channel: Channel, request: ConsumeMessage, content: Buffer): void {
  const replyTo = request.properties.replyTo as string | undefined;
  if (!replyTo) return;
  channel.sendToQueue(replyTo, content, { correlationId: request.properties.correlationId as string, contentType: 'application/json' });
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
