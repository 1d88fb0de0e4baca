/**
 * What the services do when the real database service misbehaves: a clean 503 JSON while it is
 * down, recovery on their own once it is back on the same address, and a write whose answer was
 * lost (dropped by a proxy after the orchestrator answered) retried once with the same
 * requestId, so the database applies it once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbClient } from '../../src/services/dbclient/db-client.ts';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { AnswerDroppingProxy } from '../../harness/services/answer-dropping-proxy.ts';
import { addUser, AUG_2021, expectError, MAY_2020, PASSWORD, unique } from '../../harness/services/scenario-helpers.ts';
import { HTTP_TIMEOUT_MS, startStack, type Stack } from '../../harness/services/stack.ts';

describe('when the database service misbehaves', () => {
  let database: DatabaseServiceHandle | undefined;

  beforeAll(async () => {
    database = await startDatabaseService();
  });

  afterAll(async () => {
    await database?.stop();
  });

  it('answers 503 JSON while it is down, and recovers by itself once it is back', async () => {
    const url = database!.orchestratorUrl;
    const stack = await startStack({ orchestratorUrl: url, now: MAY_2020, httpTimeoutMs: 2000 });
    try {
      const before = await addUser(stack);
      await database!.stop();
      database = undefined;

      expectError(await stack.gateway.get('/api/v1/users'), 503, 'UNAVAILABLE');
      expectError(await stack.gateway.put('/api/v1/users', { username: unique('u'), password: PASSWORD }), 503, 'UNAVAILABLE');
      expectError(await stack.gateway.get('/api/v1/rides/count'), 503, 'UNAVAILABLE');
      expectError(await stack.gateway.post('/api/v1/rides', { created_by: before, timestamp: AUG_2021, source: 1, destination: 2 }), 503, 'UNAVAILABLE');
      expectError(await stack.users[0]!.get(`/api/v1/users?username=${before}`), 503, 'UNAVAILABLE');
      expectError(await stack.rides[0]!.get('/api/v1/rides?source=1&destination=2'), 503, 'UNAVAILABLE');
      expect((await stack.users[0]!.get('/health')).status).toBe(200);
      expect((await stack.rides[0]!.get('/health')).status).toBe(200);

      // A new, empty database service where the old one was: nothing is restarted on the services' side.
      database = await startDatabaseService({ port: Number(new URL(url).port) });
      expect(database.orchestratorUrl).toBe(url);
      const after = await addUser(stack);
      expect((await stack.gateway.get(`/api/v1/users?username=${after}`)).status).toBe(200);
      expect((await stack.gateway.post('/api/v1/rides', { created_by: after, timestamp: AUG_2021, source: 1, destination: 2 })).status).toBe(201);
      expect((await stack.gateway.get('/api/v1/rides/count')).body).toEqual([1]);
    } finally {
      await stack.close();
    }
  });

  describe('with a proxy that can lose the orchestrator’s answers', () => {
    let proxy: AnswerDroppingProxy;
    let stack: Stack;
    let db: DbClient;

    beforeAll(async () => {
      // The test above stops the database service and starts another; should it fail in between, these still get one.
      database ??= await startDatabaseService();
      proxy = new AnswerDroppingProxy(database.orchestratorUrl);
      // Long enough for two lost answers and a third attempt; short enough to see the services give up.
      stack = await startStack({ orchestratorUrl: await proxy.start(), now: MAY_2020, httpTimeoutMs: 1000, writeRetryWindowMs: 2500 });
      db = new DbClient({ urls: [database.orchestratorUrl], timeoutMs: HTTP_TIMEOUT_MS });
    });

    afterAll(async () => {
      await stack?.close();
      await proxy?.stop();
      await db?.close();
    });

    const stored = async (table: 'users' | 'rides', where: Record<string, string | number>) => (await db.read({ table, where })).rows;

    it('retries a user whose answer was lost once, with the same requestId, and it is stored once', async () => {
      const name = unique('retry');
      const since = proxy.exchanges.length;
      proxy.dropWriteAnswers(1, 'close');
      expect((await stack.gateway.put('/api/v1/users', { username: name, password: PASSWORD })).status).toBe(201);
      const writes = proxy.writes(since);
      expect(writes.map((write) => write.dropped)).toEqual(['close', undefined]);
      expect(writes[1]?.body.requestId).toBe(writes[0]?.body.requestId);
      // The second answer is the first one again: the orchestrator recognised the request, not a new insert.
      expect(writes[1]?.answer).toEqual(writes[0]?.answer);
      expect(await stored('users', { username: name })).toHaveLength(1);
    });

    it('retries a ride whose answer was lost once, and the ride is created once', async () => {
      const name = await addUser(stack);
      const since = proxy.exchanges.length;
      proxy.dropWriteAnswers(1, 'close');
      const created = await stack.gateway.post('/api/v1/rides', { created_by: name, timestamp: AUG_2021, source: 4, destination: 5 });
      expect(created.status).toBe(201);
      expect(proxy.writes(since)).toHaveLength(2);
      // Nothing unique guards a ride: only the requestId keeps the retry from inserting a second one.
      const rides = await stored('rides', { created_by: name });
      expect(rides.map((ride) => ride.ride_id)).toEqual([Number(String(created.headers.location).split('/').at(-1))]);
    });

    it('keeps retrying with the same requestId: two lost answers still end in one 201 and one stored user', async () => {
      const name = unique('twice');
      const since = proxy.exchanges.length;
      proxy.dropWriteAnswers(2, 'silence');
      expect((await stack.gateway.put('/api/v1/users', { username: name, password: PASSWORD })).status).toBe(201);
      const writes = proxy.writes(since);
      expect(writes.map((write) => write.dropped)).toEqual(['silence', 'silence', undefined]);
      expect(new Set(writes.map((write) => write.body.requestId)).size).toBe(1);
      expect(await stored('users', { username: name })).toHaveLength(1);
    });

    it('gives up when the retry window is spent: answers that never come are a 503, and the write is still applied once', async () => {
      const name = unique('lost');
      const since = proxy.exchanges.length;
      proxy.dropWriteAnswers(3, 'silence');
      expectError(await stack.gateway.put('/api/v1/users', { username: name, password: PASSWORD }), 503, 'TIMEOUT');
      const writes = proxy.writes(since);
      expect(writes.length).toBeGreaterThanOrEqual(2);
      expect(writes.every((write) => write.dropped === 'silence')).toBe(true);
      expect(new Set(writes.map((write) => write.body.requestId)).size).toBe(1);
      expect(await stored('users', { username: name })).toHaveLength(1);
      proxy.clearDrops();
    });

    it('reads ask for at least the highest seq this client wrote, and for fresh data', async () => {
      const since = proxy.exchanges.length;
      await addUser(stack);
      await stack.gateway.get('/api/v1/users');
      const [write, read] = proxy.exchanges.slice(since).slice(-2);
      expect(write?.path).toBe('/api/v1/db/write');
      expect(read?.path).toBe('/api/v1/db/read');
      expect(read?.body).toMatchObject({ table: 'users', fresh: true, minSeq: write?.answer.seq });
      expect(write?.answer.seq).toBeGreaterThanOrEqual(1);
    });
  });
});
