/**
 * Messages between processes of the database service, declared once and imported by both sides.
 * Every message carries `v` (the protocol version) so a mixed-version cluster fails loudly, and
 * every message a worker receives is decoded with a schema, never cast: a malformed one is
 * refused, not executed.
 */
import { z } from 'zod';
import { describeZodError, parseRead, parseWrite, type ReadQuery, type Value, type Write } from './queries.ts';
import { InvalidRequestError, isWireErrorCode, type WireErrorCode } from './wire-errors.ts';

export const PROTOCOL_VERSION = 2;

/**
 * A request published by an orchestrator on readQ or writeQ. A write carries an absolute
 * deadline (ms since the epoch): the master never applies it later, so a caller that gave up at
 * the deadline knows the write can no longer be applied behind its back. `position` asks the
 * master for the seq it has applied, which covers every write acknowledged so far.
 */
export type DbCommand =
  | { v: 2; kind: 'read'; query: ReadQuery; trace?: string }
  | { v: 2; kind: 'write'; requestId: string; write: Write; deadline: number; trace?: string }
  | { v: 2; kind: 'position' };

export type Row = Record<string, Value | null>;

export interface ReadResult {
  rows: Row[];
  /** The sequence number the answering replica had applied. */
  seq: number;
  worker: string;
}

export interface WriteResult {
  changes: number;
  /** The id given to an inserted row of a table with an autoincrement key. */
  insertId?: number;
  seq: number;
  epoch: number;
}

export interface Position {
  seq: number;
  epoch: number;
}

export type Reply<T> = { v: 2; ok: true; result: T } | { v: 2; ok: false; code: WireErrorCode; message: string };

/** One applied write as the master broadcasts it on the sync fanout. */
export interface SyncWrite {
  v: 2;
  kind: 'write';
  epoch: number;
  seq: number;
  requestId: string;
  /** The write as applied: an insert carries the id the master assigned, so replicas store the same row. */
  write: Write;
  result: WriteResult;
}

/**
 * A master's epoch mark. The first one of an epoch is published right after the older epochs'
 * exchanges are deleted: everything before it in a queue was routed before the fence, anything
 * of an older epoch after it is a late frame and is ignored. With `seq`, it states the master's
 * position: every replica following the stream must then be exactly there.
 */
export interface SyncEpoch {
  v: 2;
  kind: 'epoch';
  epoch: number;
  seq?: number;
  masterId: string;
}

export type SyncMessage = SyncWrite | SyncEpoch;

const replySchema = z.union([
  z.object({ v: z.literal(PROTOCOL_VERSION), ok: z.literal(true), result: z.unknown() }),
  z.object({ v: z.literal(PROTOCOL_VERSION), ok: z.literal(false), code: z.string(), message: z.string() }),
]);

const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The id of the HTTP request a command serves (X-Request-Id), for the workers' logs. */
const traceSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).optional();

const commandSchema = z.discriminatedUnion('kind', [
  z.object({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('read'), query: z.unknown(), trace: traceSchema }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    kind: z.literal('write'),
    requestId: z.string().min(1).max(256),
    write: z.unknown(),
    deadline: z.number().int().positive(),
    trace: traceSchema,
  }),
  z.object({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('position') }),
]);

const writeResultSchema = z.object({ changes: z.number().int().min(0), insertId: z.number().int().optional(), seq: seqSchema, epoch: seqSchema });

const syncSchema = z.discriminatedUnion('kind', [
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    kind: z.literal('write'),
    epoch: seqSchema,
    seq: seqSchema.min(1),
    requestId: z.string().min(1).max(256),
    write: z.unknown(),
    result: writeResultSchema,
  }),
  z.object({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('epoch'), epoch: seqSchema.min(1), seq: seqSchema.optional(), masterId: z.string() }),
]);

export function encode(message: unknown): Buffer {
  return Buffer.from(JSON.stringify(message));
}

export function decodeReply(content: Buffer): Reply<unknown> {
  const parsed = replySchema.parse(JSON.parse(content.toString('utf8')));
  if (parsed.ok) return { v: PROTOCOL_VERSION, ok: true, result: parsed.result };
  return { v: PROTOCOL_VERSION, ok: false, code: isWireErrorCode(parsed.code) ? parsed.code : 'INTERNAL', message: parsed.message };
}

/** JSON checked against a schema; any failure is an InvalidRequestError saying what is wrong. */
function decodeJson<T>(schema: z.ZodType<T>, content: Buffer, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(content.toString('utf8'));
  } catch {
    throw new InvalidRequestError(`${what} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new InvalidRequestError(`${what}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/** Decodes a command; the query or write inside is checked against the table registry too. */
export function decodeCommand(content: Buffer): DbCommand {
  const message = decodeJson(commandSchema, content, 'command');
  switch (message.kind) {
    case 'read':
      return { v: PROTOCOL_VERSION, kind: 'read', query: parseRead(message.query), ...traced(message.trace) };
    case 'write':
      return { v: PROTOCOL_VERSION, kind: 'write', requestId: message.requestId, write: parseWrite(message.write), deadline: message.deadline, ...traced(message.trace) };
    case 'position':
      return { v: PROTOCOL_VERSION, kind: 'position' };
  }
}

function traced(trace: string | undefined): { trace?: string } {
  return trace === undefined ? {} : { trace };
}

export function decodeSync(content: Buffer): SyncMessage {
  const message = decodeJson(syncSchema, content, 'sync message');
  if (message.kind === 'epoch') {
    return { v: PROTOCOL_VERSION, kind: 'epoch', epoch: message.epoch, masterId: message.masterId, ...(message.seq === undefined ? {} : { seq: message.seq }) };
  }
  const result: WriteResult = { changes: message.result.changes, seq: message.result.seq, epoch: message.result.epoch };
  if (message.result.insertId !== undefined) result.insertId = message.result.insertId;
  return { ...message, v: PROTOCOL_VERSION, write: parseWrite(message.write), result };
}
