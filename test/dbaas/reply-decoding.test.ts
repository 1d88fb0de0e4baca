/** A worker's reply as the orchestrator reads it (src/dbaas/protocol/messages.ts): checked field by field, anything else refused. */
import { describe, expect, it } from 'vitest';
import { decodeBatchReply, decodeReply, replySchema } from '../../src/dbaas/protocol/reply.ts';

const bytes = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('reply decoding', () => {
  it('keeps a result and drops fields a reply does not have', () => {
    expect(decodeReply(bytes({ v: 4, ok: true, result: { rows: [1] }, extra: 'x' }))).toEqual({ v: 4, ok: true, result: { rows: [1] } });
  });

  it('keeps a known error code and makes any other INTERNAL', () => {
    expect(decodeReply(bytes({ v: 4, ok: false, code: 'CONFLICT', message: 'taken' }))).toEqual({ v: 4, ok: false, code: 'CONFLICT', message: 'taken' });
    expect(decodeReply(bytes({ v: 4, ok: false, code: 'NO_SUCH_CODE', message: 'odd' }))).toEqual({ v: 4, ok: false, code: 'INTERNAL', message: 'odd' });
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '[1]'],
    ['null', 'null'],
    ['another protocol version', { v: 3, ok: true, result: 1 }],
    ['ok not a boolean', { v: 4, ok: 'yes', result: 1 }],
    ['a success without a result', { v: 4, ok: true }],
    ['an error without a message', { v: 4, ok: false, code: 'CONFLICT' }],
    ['an error code that is not a string', { v: 4, ok: false, code: 7, message: 'm' }],
  ])('refuses %s, as the reply schema does', (_what, reply) => {
    expect(() => decodeReply(bytes(reply))).toThrow();
    if (typeof reply !== 'string') expect(replySchema.safeParse(reply).success).toBe(false);
  });

  it('checks each reply of a batch and gives a refused batch to every command', () => {
    expect(
      decodeBatchReply(
        bytes({
          v: 4,
          ok: true,
          result: [
            { v: 4, ok: true, result: 1 },
            { v: 4, ok: false, code: 'CONFLICT', message: 'm' },
          ],
        }),
        2,
      ),
    ).toEqual([
      { v: 4, ok: true, result: 1 },
      { v: 4, ok: false, code: 'CONFLICT', message: 'm' },
    ]);
    expect(decodeBatchReply(bytes({ v: 4, ok: false, code: 'BAD_REQUEST', message: 'm' }), 2)).toHaveLength(2);
    expect(() => decodeBatchReply(bytes({ v: 4, ok: true, result: [{ v: 4, ok: true, result: 1 }, { v: 9 }] }), 2)).toThrow();
    expect(() => decodeBatchReply(bytes({ v: 4, ok: true, result: [] }), 2)).toThrow();
  });
});
