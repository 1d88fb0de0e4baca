import { describe, expect, it } from 'vitest';
import { readAnswerOf, writeAnswerOf } from '../../src/services/dbclient/answers.ts';

describe('the database service\u2019s answers as the services check them', () => {
  it('takes a read answer\u2019s rows and seq, and leaves other fields out', () => {
    const rows = [{ ride_id: 1, created_by: 'ann', note: null }];
    expect(readAnswerOf({ rows, seq: 7, truncated: true, nextOffset: 10 })).toEqual({ rows, seq: 7 });
    expect(readAnswerOf({ rows: [], seq: 0 })).toEqual({ rows: [], seq: 0 });
  });

  it.each([
    ['no rows', { seq: 1 }],
    ['rows that are no list', { rows: {}, seq: 1 }],
    ['a row that is a list', { rows: [[1]], seq: 1 }],
    ['a row that is null', { rows: [null], seq: 1 }],
    ['a cell that is an object', { rows: [{ a: { b: 1 } }], seq: 1 }],
    ['a cell that is a boolean', { rows: [{ a: true }], seq: 1 }],
    ['a negative seq', { rows: [], seq: -1 }],
    ['a fractional seq', { rows: [], seq: 1.5 }],
    ['a seq in a string', { rows: [], seq: '1' }],
    ['no object at all', 'rows'],
    ['null', null],
  ])('refuses a read answer with %s', (_name, answer) => {
    expect(readAnswerOf(answer)).toBeUndefined();
  });

  it('takes a write answer\u2019s changes, insertId and seq', () => {
    expect(writeAnswerOf({ changes: 1, insertId: 42, seq: 9, extra: 'x' })).toEqual({ changes: 1, insertId: 42, seq: 9 });
    expect(writeAnswerOf({ changes: 0, seq: 9 })).toEqual({ changes: 0, seq: 9 });
  });

  it.each([
    ['no changes', { seq: 1 }],
    ['negative changes', { changes: -1, seq: 1 }],
    ['a fractional insertId', { changes: 1, insertId: 1.5, seq: 1 }],
    ['an insertId in a string', { changes: 1, insertId: '1', seq: 1 }],
    ['no seq', { changes: 1 }],
    ['null', null],
  ])('refuses a write answer with %s', (_name, answer) => {
    expect(writeAnswerOf(answer)).toBeUndefined();
  });
});
