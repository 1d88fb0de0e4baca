/**
 * Messages between processes of the database service, declared once and imported by both sides.
 * Every message carries `v` (the protocol version) so a mixed-version cluster fails loudly.
 */
import { z } from 'zod';
import { isErrorCode, type ErrorCode } from '../../shared/errors.ts';
import type { ReadQuery, Value, Write } from './queries.ts';

export const PROTOCOL_VERSION = 1;

/** A request published by an orchestrator on readQ or writeQ. */
export type DbCommand =
  | { v: 1; kind: 'read'; query: ReadQuery }
  | { v: 1; kind: 'write'; requestId: string; write: Write };

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

export type Reply<T> = { v: 1; ok: true; result: T } | { v: 1; ok: false; code: ErrorCode; message: string };

/** One applied write as the master broadcasts it on the sync fanout. */
export interface SyncMessage {
  v: 1;
  epoch: number;
  seq: number;
  requestId: string;
  /** The write as applied: an insert carries the id the master assigned, so replicas store the same row. */
  write: Write;
  result: WriteResult;
}

const replySchema = z.union([
  z.object({ v: z.literal(1), ok: z.literal(true), result: z.unknown() }),
  z.object({ v: z.literal(1), ok: z.literal(false), code: z.string(), message: z.string() }),
]);

export function encode(message: unknown): Buffer {
  return Buffer.from(JSON.stringify(message));
}

export function decodeReply(content: Buffer): Reply<unknown> {
  const parsed = replySchema.parse(JSON.parse(content.toString('utf8')));
  if (parsed.ok) return { v: 1, ok: true, result: parsed.result };
  return { v: 1, ok: false, code: isErrorCode(parsed.code) ? parsed.code : 'INTERNAL', message: parsed.message };
}

export function decodeCommand(content: Buffer): DbCommand {
  const message = JSON.parse(content.toString('utf8')) as DbCommand;
  if (message.v !== PROTOCOL_VERSION) throw new Error(`unsupported protocol version ${String(message.v)}`);
  return message;
}

export function decodeSync(content: Buffer): SyncMessage {
  const message = JSON.parse(content.toString('utf8')) as SyncMessage;
  if (message.v !== PROTOCOL_VERSION) throw new Error(`unsupported protocol version ${String(message.v)}`);
  return message;
}
