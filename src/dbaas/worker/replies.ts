import type { Channel, ConsumeMessage } from 'amqplib';
import { RideShareError } from '../../shared/errors.ts';
import { encode, type Reply } from '../protocol/messages.ts';

/** Answers an RPC request on its reply-to address (the orchestrator's direct reply-to). */
export function reply<T>(channel: Channel, request: ConsumeMessage, body: Reply<T>): void {
  const replyTo = request.properties.replyTo as string | undefined;
  if (!replyTo) return;
  channel.sendToQueue(replyTo, encode(body), { correlationId: request.properties.correlationId as string, contentType: 'application/json' });
}

export function ok<T>(result: T): Reply<T> {
  return { v: 1, ok: true, result };
}

export function failure(error: unknown): Reply<never> {
  if (error instanceof RideShareError) return { v: 1, ok: false, code: error.code, message: error.message };
  return { v: 1, ok: false, code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}
