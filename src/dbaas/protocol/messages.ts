/**
 * Messages between processes of the database service, declared once and imported by both sides.
 * Every message carries `v` (the protocol version) so a mixed-version cluster fails loudly, and
 * every message a worker receives is decoded with a schema, never cast: a malformed one is
 * refused, not executed.
 */
import { z } from 'zod';
import { describeZodError, parseRead, parseWrite, type ReadQuery, type Value, type Write } from './queries.ts';
import { InvalidRequestError, isWireErrorCode, MalformedMessageError, type WireErrorCode } from './wire-errors.ts';

export const PROTOCOL_VERSION = 4;

/** The most commands one batch message carries; a sender splits larger batches. */
export const MAX_BATCH = 64;
/** The most writes one sync group carries. */
export const MAX_GROUP = 512;

/**
 * A request published by an orchestrator on readQ or writeQ. A write carries an absolute
 * deadline (ms since the epoch): the master never applies it later, so a caller that gave up at
 * the deadline knows the write can no longer be applied behind its back. `position` asks the
 * master for the seq it has applied, which covers every write acknowledged so far.
 */
export type SingleCommand =
  | { v: 4; kind: 'read'; query: ReadQuery; trace?: string }
  | { v: 4; kind: 'write'; requestId: string; write: Write; deadline: number; trace?: string }
  | { v: 4; kind: 'position' };

/**
 * Several commands in one message (what an orchestrator gathered in one turn of its event loop),
 * answered by one reply whose result holds each command's own reply, in order. Each command
 * succeeds or fails alone.
 */
export type BatchCommand = { v: 4; kind: 'batch'; commands: SingleCommand[] };

export type DbCommand = SingleCommand | BatchCommand;

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

export type Reply<T> = { v: 4; ok: true; result: T } | { v: 4; ok: false; code: WireErrorCode; message: string };

/** One applied write as the master broadcasts it on the sync fanout. */
export interface SyncWrite {
  v: 4;
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
  v: 4;
  kind: 'epoch';
  epoch: number;
  seq?: number;
  masterId: string;
}

/**
 * The writes a master applied in one transaction (group commit), published as one message with
 * consecutive seqs; a replica applies them in one transaction too.
 */
export interface SyncGroup {
  v: 4;
  kind: 'group';
  epoch: number;
  writes: SyncWrite[];
}

export type SyncMessage = SyncWrite | SyncGroup | SyncEpoch;

/** What a reply is (checked by hand in checkReply, this being the hot path). */
export const replySchema = z.union([
  z.object({ v: z.literal(PROTOCOL_VERSION), ok: z.literal(true), result: z.unknown() }),
  z.object({ v: z.literal(PROTOCOL_VERSION), ok: z.literal(false), code: z.string(), message: z.string() }),
]);

const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The id of the HTTP request a command serves (X-Request-Id), for the workers' logs. */
const traceSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).optional();

const singleCommandSchema = z.discriminatedUnion('kind', [
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

const batchSchema = z.object({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('batch'), commands: z.array(z.unknown()).min(1).max(MAX_BATCH) });

const writeResultSchema = z.object({ changes: z.number().int().min(0), insertId: z.number().int().optional(), seq: seqSchema, epoch: seqSchema });

const syncWriteSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('write'),
  epoch: seqSchema,
  seq: seqSchema.min(1),
  requestId: z.string().min(1).max(256),
  write: z.unknown(),
  result: writeResultSchema,
});

const syncSchema = z.discriminatedUnion('kind', [
  syncWriteSchema,
  z.object({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('group'), epoch: seqSchema, writes: z.array(syncWriteSchema).min(1).max(MAX_GROUP) }),
  z.object({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('epoch'), epoch: seqSchema.min(1), seq: seqSchema.optional(), masterId: z.string() }),
]);

export function encode(message: unknown): Buffer {
  return Buffer.from(JSON.stringify(message));
}

export function decodeReply(content: Buffer): Reply<unknown> {
  return checkReply(JSON.parse(content.toString('utf8')));
}

/**
 * The replies to a batch of `count` commands, in order. A batch refused as a whole (a malformed
 * message) gives its error to every command.
 */
export function decodeBatchReply(content: Buffer, count: number): Reply<unknown>[] {
  const reply = decodeReply(content);
  if (!reply.ok) return new Array<Reply<unknown>>(count).fill(reply);
  if (!Array.isArray(reply.result) || reply.result.length !== count) throw new MalformedMessageError(`a batch of ${count} commands was answered with something else`);
  return reply.result.map(checkReply);
}

/**
 * A reply checked field by field: every reply of every read passes here, and zod's general
 * machinery (a union tried member by member, objects rebuilt) cost more than the rest of the
 * decoding. The rules are replySchema's, which tells them.
 */
function checkReply(json: unknown): Reply<unknown> {
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

/** JSON checked against a schema; any failure is an InvalidRequestError saying what is wrong. */
function decodeJson<T>(schema: z.ZodType<T>, content: Buffer, what: string): T {
  return checked(schema, parseJson(content, what), what);
}

function parseJson(content: Buffer, what: string): unknown {
  try {
    return JSON.parse(content.toString('utf8'));
  } catch {
    throw new InvalidRequestError(`${what} is not JSON`);
  }
}

function checked<T>(schema: z.ZodType<T>, json: unknown, what: string): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new InvalidRequestError(`${what}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/**
 * The commands a request message carries: one, or a batch's; the query or write inside each is
 * checked against the table registry too. A malformed command of a batch is an error in its
 * place (it fails alone); a malformed message throws.
 */
export function decodeCommands(content: Buffer): { batched: boolean; commands: (SingleCommand | InvalidRequestError)[] } {
  const json = parseJson(content, 'command');
  if ((json as { kind?: unknown } | null)?.kind !== 'batch') return { batched: false, commands: [checkCommand(checked(singleCommandSchema, json, 'command'))] };
  const batch = checked(batchSchema, json, 'batch');
  const commands = batch.commands.map((command, index) => {
    try {
      return checkCommand(checked(singleCommandSchema, command, `batch command ${index}`));
    } catch (error) {
      return error instanceof InvalidRequestError ? error : new InvalidRequestError(String(error));
    }
  });
  return { batched: true, commands };
}

function checkCommand(message: z.infer<typeof singleCommandSchema>): SingleCommand {
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
  switch (message.kind) {
    case 'epoch':
      return { v: PROTOCOL_VERSION, kind: 'epoch', epoch: message.epoch, masterId: message.masterId, ...(message.seq === undefined ? {} : { seq: message.seq }) };
    case 'write':
      return syncWrite(message);
    case 'group': {
      const writes = message.writes.map(syncWrite);
      // One transaction on the master: consecutive seqs of the group's own epoch, or it was not a master's.
      const broken = writes.findIndex((write, index) => write.epoch !== message.epoch || (index > 0 && write.seq !== (writes[index - 1] as SyncWrite).seq + 1));
      if (broken >= 0) throw new InvalidRequestError(`sync message: write ${broken} of the group does not follow its predecessor in epoch ${message.epoch}`);
      return { v: PROTOCOL_VERSION, kind: 'group', epoch: message.epoch, writes };
    }
  }
}

function syncWrite(message: z.infer<typeof syncWriteSchema>): SyncWrite {
  const result: WriteResult = { changes: message.result.changes, seq: message.result.seq, epoch: message.result.epoch };
  if (message.result.insertId !== undefined) result.insertId = message.result.insertId;
  return { ...message, v: PROTOCOL_VERSION, write: parseWrite(message.write), result };
}
