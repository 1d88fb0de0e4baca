/**
 * A worker's answer to a command message: its result, or a refusal with a wire error code. A
 * code this version does not know reads as INTERNAL.
 */
import { z } from 'zod';
import { PROTOCOL_VERSION, versionSchema } from './messages.ts';
import type { ResultDecoder } from './results.ts';
import { isWireErrorCode, MalformedMessageError, type WireErrorCode } from './wire-errors.ts';

const successSchema = z.object({ v: versionSchema, ok: z.literal(true), result: z.unknown() });

const refusalSchema = z.object({
  v: versionSchema,
  ok: z.literal(false),
  code: z.string().transform((code): WireErrorCode => (isWireErrorCode(code) ? code : 'INTERNAL')),
  message: z.string(),
});

/** What a reply is (checked by hand in checkReply, this being the hot path). */
export const replySchema = z.union([successSchema, refusalSchema]);

export type Refusal = z.infer<typeof refusalSchema>;
/** A reply whose result has been checked to be a T (see results.ts). */
export type Reply<T = unknown> = (Omit<z.infer<typeof successSchema>, 'result'> & { result: T }) | Refusal;

export function decodeReply(content: Buffer): Reply {
  return checkReply(JSON.parse(content.toString('utf8')));
}

/**
 * The replies to a batch of `count` commands, in order. A batch refused as a whole (a malformed
 * message) gives its error to every command.
 */
export function decodeBatchReply(content: Buffer, count: number): Reply[] {
  const reply = decodeReply(content);
  if (!reply.ok) return new Array<Reply>(count).fill(reply);
  if (!Array.isArray(reply.result) || reply.result.length !== count) throw new MalformedMessageError(`a batch of ${count} commands was answered with something else`);
  return reply.result.map(checkReply);
}

/** A reply whose result, when it has one, `decode` has checked. */
export function withResult<T>(reply: Reply, decode: ResultDecoder<T>): Reply<T> {
  return reply.ok ? { v: PROTOCOL_VERSION, ok: true, result: decode(reply.result) } : reply;
}

/**
 * A reply checked field by field: every reply of every read passes here, and zod's general
 * machinery (a union tried member by member, objects rebuilt) cost more than the rest of the
 * decoding. The rules are replySchema's, which tells them.
 */
function checkReply(json: unknown): Reply {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new MalformedMessageError('a reply must be an object');
  const reply = json as Record<string, unknown>;
  if (reply.v !== PROTOCOL_VERSION) throw new MalformedMessageError(`a reply must be of protocol version ${PROTOCOL_VERSION}`);
  if (reply.ok === true) {
    if (!('result' in reply)) throw new MalformedMessageError('a successful reply must have a result');
    return { v: PROTOCOL_VERSION, ok: true, result: reply.result };
  }
  if (reply.ok !== false) throw new MalformedMessageError('a reply must say whether it is ok');
  const { code, message } = reply;
  if (typeof code !== 'string' || typeof message !== 'string') throw new MalformedMessageError('a refusal must have a code and a message');
  return { v: PROTOCOL_VERSION, ok: false, code: isWireErrorCode(code) ? code : 'INTERNAL', message };
}
