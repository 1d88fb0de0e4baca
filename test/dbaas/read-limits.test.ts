import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { post } from '../../harness/http.ts';

interface ReadAnswer {
  rows: { username: string }[];
  seq: number;
  truncated?: boolean;
  nextOffset?: number;
}

const PASSWORD = 'a'.repeat(40);
const USERS = 1205;

describe('how many rows one db/read answers', () => {
  let service: DatabaseServiceHandle;
  const read = (body: unknown) => post<ReadAnswer & { code?: string; error?: string }>(`${service.orchestratorUrl}/api/v1/db/read`, body);

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1 });
    const names = Array.from({ length: USERS }, (_, index) => `user-${String(index).padStart(5, '0')}`);
    for (let start = 0; start < USERS; start += 1000) {
      const rows = names.slice(start, start + 1000).map((username) => ({ username, password: PASSWORD }));
      expect((await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', rows })).status).toBe(200);
    }
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('a read without a limit gets the first 1,000 rows and is told where the next page starts', async () => {
    const first = await read({ table: 'users', columns: ['username'], orderBy: [{ column: 'username' }], fresh: true });
    expect(first.status).toBe(200);
    expect(first.body.rows).toHaveLength(1000);
    expect(first.body.rows[999]).toEqual({ username: 'user-00999' });
    expect(first.body).toMatchObject({ truncated: true, nextOffset: 1000 });

    const rest = await read({ table: 'users', columns: ['username'], orderBy: [{ column: 'username' }], offset: first.body.nextOffset, fresh: true });
    expect(rest.body.rows).toHaveLength(USERS - 1000);
    expect(rest.body.rows[0]).toEqual({ username: 'user-01000' });
    expect(rest.body).not.toHaveProperty('truncated');
    expect(rest.body).not.toHaveProperty('nextOffset');
  });

  it('a read with a limit of its own gets what it asked for, uncut', async () => {
    const all = await read({ table: 'users', columns: ['username'], limit: 5000, fresh: true });
    expect(all.body.rows).toHaveLength(USERS);
    expect(all.body).not.toHaveProperty('truncated');
    const count = await read({ table: 'users', count: true, fresh: true });
    expect(count.body.rows).toEqual([{ count: USERS }]);
  });

  it('a read asking for more than 10,000 rows is a 400 that says how to page', async () => {
    const refused = await read({ table: 'users', limit: 10_001 });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('BAD_REQUEST');
    expect(refused.body.error).toMatch(/limit: at most 10000 rows per read.*offset/);
  });
});

describe('how large one worker reply may be', () => {
  let service: DatabaseServiceHandle;
  const read = (body: unknown) => post<ReadAnswer & { code?: string; error?: string }>(`${service.orchestratorUrl}/api/v1/db/read`, body);
  // The widest rows there are: two 1,024-character texts, each character escaped as \u0001 (6 bytes) in JSON.
  const WIDE = 420;
  const escaped = '\u0001';

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1 });
    const rows = Array.from({ length: WIDE }, (_, index) => ({ username: `${escaped.repeat(1020)}${String(index).padStart(4, '0')}`, password: escaped.repeat(1024) }));
    // 60 rows a write keeps each request body under the 1 MiB an HTTP body may be.
    for (let start = 0; start < WIDE; start += 60) {
      expect((await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', rows: rows.slice(start, start + 60) })).status).toBe(200);
    }
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('a read whose answer would pass 4 MiB is a 413 RESULT_TOO_LARGE that says what to ask instead', async () => {
    // About 5 MiB: within the row limit, far below RabbitMQ's 128 MiB, over the reply bound.
    const refused = await read({ table: 'users', limit: 1000, fresh: true });
    expect(refused.status).toBe(413);
    expect(refused.body.code).toBe('RESULT_TOO_LARGE');
    expect(refused.body.error).toMatch(/over the 4 MiB one reply may hold: ask for fewer rows or columns/);
    expect((await read({ table: 'users', fresh: true })).status).toBe(413);
  });

  it('fewer columns fit, and reads sent at once (one batch message, one reply) each fit on their own', async () => {
    // About 2.5 MiB each: read at once, they travel in one batch message and one reply.
    const answers = await Promise.all([0, 1, 2].map(() => read({ table: 'users', columns: ['username'], fresh: true })));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.rows).toHaveLength(WIDE);
    }
    expect((await read({ table: 'users', limit: 300, fresh: true })).status).toBe(200);
  });
});
