import type { Channel, ConsumeMessage } from 'amqplib';
import { RideShareError } from '../../shared/errors.ts';
import { encode, PROTOCOL_VERSION, type Reply } from '../protocol/messages.ts';

/** Answers an RPC request on its reply-to address (the orchestrator's direct reply-to). */
export function reply<T>(channel: Channel, request: ConsumeMessage, body: Reply<T>): void {
  const replyTo = request.properties.replyTo as string | undefined;
  if (!replyTo) return;
  channel.sendToQueue(replyTo, encode(body), { correlationId: request.properties.correlationId as string, contentType: 'application/json' });
}

export function ok<T>(result: T): Reply<T> {
  return { v: PROTOCOL_VERSION, ok: true, result };
}

export function failure(error: unknown): Reply<never> {
  if (error instanceof RideShareError) return { v: PROTOCOL_VERSION, ok: false, code: error.code, message: error.message };
  return { v: PROTOCOL_VERSION, ok: false, code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}
