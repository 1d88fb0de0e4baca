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
