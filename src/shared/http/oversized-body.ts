/**
 * A body over the limit is answered with a 413 its sender can read. Answering at once and closing
 * while the client still writes makes its kernel reset the connection, and a reset throws away
 * the answer before the client reads it: a dropped connection, not a 413. So the rest of the body
 * is read and thrown away first, up to DRAIN_LIMIT_BYTES; a sender of more than that is cut off.
 * The whole-request deadline (limits.ts) bounds how long a slow sender can keep this going.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { RideShareError } from '../errors.ts';
import { BODY_LIMIT_BYTES, DRAIN_LIMIT_BYTES } from './limits.ts';

/** fastify's refusal of a body over its bodyLimit. */
export function isOversizedBody(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'FST_ERR_CTP_BODY_TOO_LARGE';
}

/** Reads and discards what is left of the body; true when it ended within `limit` bytes. */
function discardRest(body: IncomingMessage, limit: number): Promise<boolean> {
  if (body.readableEnded) return Promise.resolve(true);
  if (Number(body.headers['content-length']) > limit) return Promise.resolve(false);
  return new Promise((resolve) => {
    let read = 0;
    const finish = (ended: boolean): void => {
      body.off('data', onData).off('end', onEnd).off('close', onClose);
      resolve(ended);
    };
    const onData = (chunk: Buffer): void => {
      read += chunk.length;
      if (read > limit) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onClose = (): void => finish(body.readableEnded);
    body.on('data', onData).on('end', onEnd).on('close', onClose);
    body.resume();
  });
}

/**
 * Reads what is left of an oversized body so that the 413 sent next reaches its sender; true when
 * the body ended within DRAIN_LIMIT_BYTES, false when the connection must be cut instead.
 */
export function drainOversizedBody(request: FastifyRequest | IncomingMessage): Promise<boolean> {
  return discardRest('raw' in request ? request.raw : request, DRAIN_LIMIT_BYTES);
}

/** What is logged when an oversized body went on past DRAIN_LIMIT_BYTES. */
export const CUT_OFF_MESSAGE = 'an oversized body went on past the drain limit; the connection is cut';

/** The answer to a body over the limit. */
export function oversizedBodyError(): RideShareError {
  return new RideShareError('PAYLOAD_TOO_LARGE', `the request body is larger than ${BODY_LIMIT_BYTES} bytes`);
}
