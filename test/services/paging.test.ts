/**
 * The public lists page: GET /api/v1/users and GET /api/v1/rides stay plain JSON arrays, bounded
 * by ?limit= (default 100, at most 500), and tell the next page in X-Next-After and Link only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import type { HttpResponse } from '../../harness/http.ts';
import { DbClient } from '../../src/services/dbclient/db-client.ts';
import { requireTimestamp } from '../../src/services/rides/timestamp.ts';
import { expectError, MAY_2020, PASSWORD } from '../../harness/services/scenario-helpers.ts';
import { HTTP_TIMEOUT_MS, startStack, type Stack } from '../../harness/services/stack.ts';

const USERS = 250;
const NOW = requireTimestamp(MAY_2020);

/** Follows `Link: <…>; rel="next"` from `first` to the last page; every page and its items. */
async function everyPage<T>(stack: Stack, first: string): Promise<{ pages: HttpResponse<T[]>[]; items: T[] }> {
  const pages: HttpResponse<T[]>[] = [];
  for (let path: string | undefined = first; path !== undefined; ) {
    const page = (await stack.gateway.get(path)) as HttpResponse<T[]>;
    expect(page.status).toBe(200);
    pages.push(page);
    const link = page.headers.link;
    path = typeof link === 'string' ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
    if (path !== undefined) expect(path).toContain(`after=${encodeURIComponent(String(page.headers['x-next-after']))}`);
  }
  return { pages, items: pages.flatMap((page) => page.body) };
}

describe('paging of the public lists', () => {
  let database: DatabaseServiceHandle;
  let stack: Stack;
  let db: DbClient;
  const names = Array.from({ length: USERS }, (_, index) => `pager-${String(index).padStart(3, '0')}`);

  beforeAll(async () => {
    database = await startDatabaseService();
    db = new DbClient({ urls: [database.orchestratorUrl], timeoutMs: HTTP_TIMEOUT_MS });
    stack = await startStack({ orchestratorUrl: database.orchestratorUrl, now: MAY_2020 });
    await db.write({ op: 'insert', table: 'users', rows: names.map((username) => ({ username, password: PASSWORD })) });
  });
  afterAll(async () => {
    await stack?.close();
    await db?.close();
    await database?.stop();
  });

  it('GET /api/v1/users answers 100 names by default and says where the next page starts', async () => {
    const first = await stack.gateway.get('/api/v1/users');
    expect(first.status).toBe(200);
    expect(first.body).toEqual(names.slice(0, 100));
    expect(first.headers['x-next-after']).toBe(names[99]);
    expect(first.headers.link).toBe(`</api/v1/users?limit=100&after=${names[99]}>; rel="next"`);

    const { pages, items } = await everyPage<string>(stack, '/api/v1/users?limit=60');
    expect(items).toEqual(names);
    expect(pages.map((page) => page.body.length)).toEqual([60, 60, 60, 60, 10]);
    expect(pages.at(-1)!.headers).not.toHaveProperty('x-next-after');
    expect((await stack.gateway.get(`/api/v1/users?after=${names.at(-1)}`)).status).toBe(204);
  });

  it('GET /api/v1/rides pages in (timestamp, id) order, ties across pages included', async () => {
    // Five rides per minute, so a page of 7 ends inside a minute; one ride in the past is not listed.
    const rides = Array.from({ length: 43 }, (_, index) => ({ created_by: names[index % 3]!, timestamp: NOW + 60 + Math.floor(index / 5) * 60, source: 3, destination: 7 }));
    const past = await db.write({ op: 'insert', table: 'rides', values: { created_by: names[0]!, timestamp: NOW - 60, source: 3, destination: 7 } });
    const written = await db.write({ op: 'insert', table: 'rides', rows: rides });
    const ids = rides.map((_, index) => written.insertId! + index);

    const { pages, items } = await everyPage<{ rideId: number }>(stack, '/api/v1/rides?source=3&destination=7&limit=7');
    expect(items.map((ride) => ride.rideId)).toEqual(ids);
    expect(items.map((ride) => ride.rideId)).not.toContain(past.insertId);
    expect(pages).toHaveLength(7);
    expect(pages[0]!.headers['x-next-after']).toBe(`${rides[6]!.timestamp}.${ids[6]}`);
    // Without paging parameters: the whole route, as the specification's clients expect it.
    expect((await stack.gateway.get('/api/v1/rides?source=3&destination=7')).body).toHaveLength(43);
  });

  it.each([
    ['/api/v1/users?limit=0', /limit/],
    ['/api/v1/users?limit=501', /limit: a whole number from 1 to 500/],
    ['/api/v1/users?limit=ten', /limit/],
    ['/api/v1/users?limit=1&limit=2', /limit: give it at most once/],
    ['/api/v1/users?after=<2,000 characters>', /after/],
    ['/api/v1/rides?source=3&destination=7&limit=-1', /limit/],
    ['/api/v1/rides?source=3&destination=7&after=17', /after: the X-Next-After/],
    ['/api/v1/rides?source=3&destination=7&after=1.2&after=3.4', /after: give it at most once/],
  ])('%s is a 400 that says what is wrong', async (path, message) => {
    const refused = await stack.gateway.get(path.replace('<2,000 characters>', 'x'.repeat(2000)));
    expectError(refused, 400, 'BAD_REQUEST');
    expect((refused.body as { error: string }).error).toMatch(message);
  });
});
