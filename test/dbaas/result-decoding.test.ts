/**
 * A worker's result as the orchestrator takes it (src/dbaas/protocol/results.ts): each decoder,
 * written by hand for the hot path, takes exactly what its schema takes, gives what the schema
 * gives, and refuses with a MALFORMED_MESSAGE error what the schema refuses.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { decodePosition, decodeReadResult, decodeWriteResult, positionSchema, readResultSchema, writeResultSchema, type ResultDecoder } from '../../src/dbaas/protocol/results.ts';
import { MalformedMessageError } from '../../src/dbaas/protocol/wire-errors.ts';

function agree(decode: ResultDecoder<unknown>, schema: z.ZodType, value: unknown): void {
  const parsed = schema.safeParse(value);
  if (parsed.success) {
    expect(decode(value)).toEqual(parsed.data);
    return;
  }
  let refused: unknown;
  try {
    decode(value);
  } catch (error) {
    refused = error;
  }
  expect(refused, `decoder took ${JSON.stringify(value)}`).toBeInstanceOf(MalformedMessageError);
  expect((refused as MalformedMessageError).code).toBe('MALFORMED_MESSAGE');
}

const big = Number.MAX_SAFE_INTEGER + 2;

describe('result decoding', () => {
  it.each([
    ['rows of strings, numbers and nulls', { rows: [{ id: 1, name: 'a', note: null }, {}], seq: 3, worker: 'w1' }],
    ['no rows', { rows: [], seq: 0, worker: 'w1' }],
    ['extra fields, dropped', { rows: [], seq: 0, worker: 'w1', extra: true }],
    ['rows not an array', { rows: { id: 1 }, seq: 0, worker: 'w1' }],
    ['a row that is an array', { rows: [[1]], seq: 0, worker: 'w1' }],
    ['a row that is null', { rows: [null], seq: 0, worker: 'w1' }],
    ['a value that is an object', { rows: [{ id: { x: 1 } }], seq: 0, worker: 'w1' }],
    ['a value that is a boolean', { rows: [{ id: true }], seq: 0, worker: 'w1' }],
    ['a negative seq', { rows: [], seq: -1, worker: 'w1' }],
    ['a fractional seq', { rows: [], seq: 1.5, worker: 'w1' }],
    ['a seq beyond 2^53', { rows: [], seq: big, worker: 'w1' }],
    ['a seq that is a string', { rows: [], seq: '1', worker: 'w1' }],
    ['no worker', { rows: [], seq: 1 }],
    ['not an object', [1]],
    ['null', null],
  ])('a read result: %s', (_what, value) => agree(decodeReadResult, readResultSchema, value));

  it.each([
    ['an insert', { changes: 1, insertId: 7, seq: 2, epoch: 1 }],
    ['an update', { changes: 0, seq: 2, epoch: 1 }],
    ['extra fields, dropped', { changes: 0, seq: 2, epoch: 1, worker: 'w' }],
    ['a negative insert id', { changes: 1, insertId: -7, seq: 2, epoch: 1 }],
    ['a fractional insert id', { changes: 1, insertId: 7.5, seq: 2, epoch: 1 }],
    ['an insert id that is a string', { changes: 1, insertId: '7', seq: 2, epoch: 1 }],
    ['negative changes', { changes: -1, seq: 2, epoch: 1 }],
    ['no changes', { seq: 2, epoch: 1 }],
    ['no epoch', { changes: 1, seq: 2 }],
    ['a string', 'ok'],
  ])('a write result: %s', (_what, value) => agree(decodeWriteResult, writeResultSchema, value));

  it.each([
    ['a position', { seq: 9, epoch: 2 }],
    ['no epoch', { seq: 9 }],
    ['a negative epoch', { seq: 9, epoch: -2 }],
    ['a number', 9],
  ])('a position: %s', (_what, value) => agree(decodePosition, positionSchema, value));
});
