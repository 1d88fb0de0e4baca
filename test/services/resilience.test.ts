/**
 * What the services do when the database service misbehaves: a clean 503 JSON while it is
 * unavailable, recovery on their own once it is back, and a write whose answer was lost retried
 * once with the same requestId so it is applied once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDatabase } from './support/fake-database.ts';
import { addUser, AUG_2021, expectError, MAY_2020, PASSWORD, unique } from './support/fixtures.ts';
import { freePort, startStack, type Stack } from './support/stack.ts';

describe('when the database service misbehaves', () => {
  const fake = new FakeDatabase();
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ orchestratorUrl: await fake.start(), now: MAY_2020 });
  });

  afterAll(async () => {
    await stack?.close();
    await fake.stop();
  });

  it('answers 503 JSON while it is unavailable, and recovers by itself', async () => {
    const name = await addUser(stack);
    fake.unavailable = true;
    try {
      expectError(await stack.gateway.get('/api/v1/users'), 503, 'UNAVAILABLE');
      expectError(await stack.gateway.put('/api/v1/users', { username: unique('u'), password: PASSWORD }), 503, 'UNAVAILABLE');
      expectError(await stack.gateway.get('/api/v1/rides/count'), 503, 'UNAVAILABLE');
      expectError(await stack.gateway.post('/api/v1/rides', { created_by: name, timestamp: AUG_2021, source: 1, destination: 2 }), 503, 'UNAVAILABLE');
    } finally {
      fake.unavailable = false;
    }
    expect((await stack.gateway.get(`/api/v1/users?username=${name}`)).status).toBe(200);
    expect((await stack.gateway.post('/api/v1/rides', { created_by: name, timestamp: AUG_2021, source: 1, destination: 2 })).status).toBe(201);
  });

  it('retries a write whose answer was lost once, with the same requestId, so it is stored once', async () => {
    const name = unique('retry');
    const before = fake.requests.length;
    fake.loseWriteAnswers = 1;
    expect((await stack.gateway.put('/api/v1/users', { username: name, password: PASSWORD })).status).toBe(201);
    const writes = fake.requests.slice(before).filter((request) => request.path === '/api/v1/db/write');
    expect(writes).toHaveLength(2);
    expect(writes[0]?.body.requestId).toBe(writes[1]?.body.requestId);
    expect(fake.rows('users').filter((row) => row.username === name)).toHaveLength(1);
  });

  it('gives up after one retry: two lost answers are a 503', async () => {
    fake.loseWriteAnswers = 2;
    expectError(await stack.gateway.put('/api/v1/users', { username: unique('lost'), password: PASSWORD }), 503, 'TIMEOUT');
    fake.loseWriteAnswers = 0;
  });

  it('reads ask for at least the highest seq this client wrote, and for fresh data', async () => {
    const before = fake.requests.length;
    await addUser(stack);
    await stack.gateway.get('/api/v1/users');
    const [write, read] = fake.requests.slice(before).filter((request) => request.path !== '/api/v1/db/clear').slice(-2);
    expect(write?.path).toBe('/api/v1/db/write');
    expect(read?.body).toMatchObject({ table: 'users', fresh: true });
    expect(read?.body.minSeq).toBeGreaterThanOrEqual(1);
  });

  it('a database service that is not even listening is a 503 too', async () => {
    const offline = await startStack({ orchestratorUrl: `http://127.0.0.1:${await freePort()}`, now: MAY_2020, httpTimeoutMs: 2000 });
    try {
      expectError(await offline.users[0]!.get('/api/v1/users'), 503, 'UNAVAILABLE');
      expectError(await offline.rides[0]!.get('/api/v1/rides/count'), 503, 'UNAVAILABLE');
    } finally {
      await offline.close();
    }
  });
});
