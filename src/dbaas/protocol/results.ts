/**
 * What a worker answers each command with, declared once as a schema with its type inferred.
 * The orchestrator checks every result it takes with a decoder written by hand field by field:
 * every read passes here, and zod's general machinery costs more than the rest of the decoding
 * (see decodeReply in reply.ts). The decoders keep their schema's rules; a test feeds both the
 * same values (test/dbaas/result-decoding.test.ts).
 */
import { z } from 'zod';
import { MalformedMessageError } from './wire-errors.ts';

const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** One row of a read: a column's value, or null. */
const rowSchema = z.record(z.string(), z.union([z.string(), z.number(), z.null()]));
export type Row = z.infer<typeof rowSchema>;

export const readResultSchema = z.object({
  rows: z.array(rowSchema),
  /** The sequence number the answering replica had applied. */
  seq: seqSchema,
  worker: z.string(),
});
export type ReadResult = z.infer<typeof readResultSchema>;

export const writeResultSchema = z.object({
  changes: z.number().int().min(0),
  /** The id given to an inserted row of a table with an autoincrement key. */
  insertId: z.number().int().optional(),
  seq: seqSchema,
  epoch: seqSchema,
});
export type WriteResult = z.infer<typeof writeResultSchema>;

export const positionSchema = z.object({ seq: seqSchema, epoch: seqSchema });
export type Position = z.infer<typeof positionSchema>;

/** Checks a worker's result: the result typed, or a MalformedMessageError saying what is wrong. */
export type ResultDecoder<T> = (result: unknown) => T;

export const decodeReadResult: ResultDecoder<ReadResult> = (result) => {
  const fields = fieldsOf(result, 'a read result');
  const rows = fields.rows;
  if (!Array.isArray(rows)) throw new MalformedMessageError('a read result must have rows');
  for (const row of rows) checkRow(row);
  return { rows: rows as Row[], seq: seqOf(fields.seq, 'seq'), worker: stringOf(fields.worker, 'worker') };
};

export const decodeWriteResult: ResultDecoder<WriteResult> = (result) => {
  const fields = fieldsOf(result, 'a write result');
  const changes = fields.changes;
  if (!Number.isSafeInteger(changes) || (changes as number) < 0) throw new MalformedMessageError('a write result must count its changes');
  const decoded: WriteResult = { changes: changes as number, seq: seqOf(fields.seq, 'seq'), epoch: seqOf(fields.epoch, 'epoch') };
  if (fields.insertId === undefined) return decoded;
  if (!Number.isSafeInteger(fields.insertId)) throw new MalformedMessageError('an insert id must be an integer');
  decoded.insertId = fields.insertId as number;
  return decoded;
};

export const decodePosition: ResultDecoder<Position> = (result) => {
  const fields = fieldsOf(result, 'a position');
  return { seq: seqOf(fields.seq, 'seq'), epoch: seqOf(fields.epoch, 'epoch') };
};

function fieldsOf(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedMessageError(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function checkRow(row: unknown): void {
  const columns = fieldsOf(row, 'a row');
  for (const column in columns) {
    const value = columns[column];
    if (value !== null && typeof value !== 'string' && typeof value !== 'number') throw new MalformedMessageError(`column ${column} of a row must be a string, a number or null`);
  }
}

function seqOf(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw new MalformedMessageError(`${field} must be a non-negative integer`);
  return value as number;
}

function stringOf(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new MalformedMessageError(`${field} must be a string`);
  return value;
}
