/**
 * The gateway: path routing, round-robin over several instances, a dead instance skipped, and a
 * clean 503 when none is left. Instances run on the real database service.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/services/gateway/gateway.ts';
import { startRidesService } from '../../src/services/rides/rides-service.ts';
import { until } from '../../harness/replicas.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { countOf, expectError, MAY_2020, PASSWORD, unique } from '../../harness/services/scenario-helpers.ts';
import { httpClient } from '../../harness/http.ts';
import { freePort, GATEWAY_UPSTREAM_TIMEOUT_MS, HTTP_TIMEOUT_MS, startStack, type Stack } from '../../harness/services/stack.ts';

describe('gateway', () => {
  let database: DatabaseServiceHandle;
  let stack: Stack;

  beforeAll(async () => {
    database = await startDatabaseService();
    stack = await startStack({ orchestratorUrl: database.orchestratorUrl, now: MAY_2020, usersInstances: 2, ridesInstances: 2 });
  });

  afterAll(async () => {
    await stack?.close();
    await database?.stop();
  });

  const resetCounts = async (): Promise<void> => {
    for (const instance of [...stack.users, ...stack.rides]) await instance.delete('/api/v1/_count');
  };

  it('sends /api/v1/users… to users instances, /api/v1/rides… to rides instances, and nothing else anywhere', async () => {
    await resetCounts();
    await stack.gateway.get('/api/v1/users');
    await stack.gateway.delete('/api/v1/users/nobody');
    await stack.gateway.get('/api/v1/rides/count');
    await stack.gateway.get('/api/v1/rides/7/seats');
    expectError(await stack.gateway.get('/api/v1/usersX'), 404, 'NOT_FOUND');
    expectError(await stack.gateway.get('/api/v1/something'), 404, 'NOT_FOUND');
    const users = await Promise.all(stack.users.map(countOf));
    const rides = await Promise.all(stack.rides.map(countOf));
    expect(users.reduce((a, b) => a + b)).toBe(2);
    expect(rides.reduce((a, b) => a + b)).toBe(2);
  });

  it('refuses the instances\u2019 own endpoints: db/clear and _count answer on each instance\u2019s address only', async () => {
    const name = unique('kept');
    expect((await stack.gateway.put('/api/v1/users', { username: name, password: PASSWORD })).status).toBe(201);
    for (const [method, path] of [
      ['POST', '/api/v1/db/clear'],
      ['GET', '/api/v1/_count'],
      ['DELETE', '/api/v1/_count'],
    ] as const) {
      expectError(await stack.gateway.call(method, path), 404, 'NOT_FOUND');
    }
    expect((await stack.gateway.get(`/api/v1/users?username=${name}`)).body).toEqual([name]);
    expect((await stack.users[0]!.get('/api/v1/_count')).status).toBe(200);
  });

  it('balances requests round-robin over the instances of a service', async () => {
    await resetCounts();
    for (let i = 0; i < 10; i += 1) await stack.gateway.get('/api/v1/rides/count');
    expect(await Promise.all(stack.rides.map(countOf))).toEqual([5, 5]);
  });

  it('passes bodies, query strings, status codes and headers through unchanged', async () => {
    const name = unique('pass');
    const raw = `{"username":"${name}","password":"${PASSWORD}"}`;
    expect((await stack.gateway.call('PUT', '/api/v1/users', { raw })).status).toBe(201);
    const found = await stack.gateway.get(`/api/v1/users?username=${name}`);
    expect(found.body).toEqual([name]);
    const created = await stack.gateway.post('/api/v1/rides', { created_by: name, timestamp: '21-08-2021:00-00-00', source: 1, destination: 2 });
    expect(created.headers.location).toMatch(/^\/api\/v1\/rides\/\d+$/);
    const notAllowed = await stack.gateway.call('PATCH', '/api/v1/rides');
    expect(notAllowed.status).toBe(405);
    expect(notAllowed.headers.allow).toBeTypeOf('string');
  });

  it('skips an instance that refuses connections, and answers 503 JSON when none is left', async () => {
    const logger = createLogger('test-gateway', 'silent');
    const deadA = `http://127.0.0.1:${await freePort()}`;
    const deadB = `http://127.0.0.1:${await freePort()}`;
    const gateway = await startGateway({ port: 0, usersUpstreams: [deadA, stack.usersUrls[0]!, deadB], ridesUpstreams: [deadA, deadB], timeoutMs: GATEWAY_UPSTREAM_TIMEOUT_MS, logger });
    try {
      const via = httpClient(gateway.url);
      for (let i = 0; i < 6; i += 1) expect((await via.get('/api/v1/users?username=nobody')).status).toBe(204);
      const result = await via.get('/api/v1/rides/count');
      expectError(result, 503, 'UNAVAILABLE');
      expect((result.body as { error: string }).error).toMatch(/no rides instance/);
    } finally {
      await gateway.close();
    }
  });

  it('keeps serving while one of two instances is stopped', async () => {
    const logger = createLogger('test-gateway', 'silent');
    const spare = await startStack({ orchestratorUrl: database.orchestratorUrl });
    const gateway = await startGateway({ port: 0, usersUpstreams: [...stack.usersUrls, spare.usersUrls[0]!], ridesUpstreams: stack.ridesUrls, timeoutMs: GATEWAY_UPSTREAM_TIMEOUT_MS, logger });
    try {
      await spare.close();
      const via = httpClient(gateway.url);
      for (let i = 0; i < 9; i += 1) expect((await via.get('/api/v1/users?username=nobody')).status).toBe(204);
    } finally {
      await gateway.close();
    }
  });

  it('with health checks (across hosts), holds new rides back from a rides instance whose users lookups have no gateway, until they have one', async () => {
    const logger = createLogger('test-gateway', 'silent');
    // A rides instance as a host coming back starts it: up and answering /health, its own gateway not yet listening.
    const ownGatewayPort = await freePort();
    const coming = await startRidesService({
      port: 0,
      db: { urls: [database.orchestratorUrl], timeoutMs: HTTP_TIMEOUT_MS, retryDelayMs: 50 },
      gatewayUrl: `http://127.0.0.1:${ownGatewayPort}`,
      publicHost: 'http://rides-coming.test',
      now: MAY_2020,
      httpTimeoutMs: HTTP_TIMEOUT_MS,
      logger,
    });
    const notReady = await httpClient(coming.url).get('/ready');
    expect(notReady.status).toBe(503);
    expect((notReady.body as { reason: string }).reason).toMatch(/gateway/);
    const gateway = await startGateway({
      port: 0,
      usersUpstreams: stack.usersUrls,
      ridesUpstreams: [coming.url, stack.ridesUrls[0]!],
      timeoutMs: GATEWAY_UPSTREAM_TIMEOUT_MS,
      healthCheckMs: 100,
      logger,
    });
    let ownGateway: Awaited<ReturnType<typeof startGateway>> | undefined;
    try {
      const via = httpClient(gateway.url);
      const name = unique('rider');
      expect((await via.put('/api/v1/users', { username: name, password: PASSWORD })).status).toBe(201);
      const newRide = async (): Promise<number> => (await via.post('/api/v1/rides', { created_by: name, timestamp: '21-08-2021:00-00-00', source: 1, destination: 2 })).status;
      // Once a check has found it not ready, every new ride goes to the ready instance.
      await until(async () => (await Promise.all([1, 2, 3, 4].map(newRide))).every((status) => status === 201), 5000, 'new rides through the ready instance only');
      expect(await Promise.all([1, 2, 3, 4, 5, 6].map(newRide))).toEqual([201, 201, 201, 201, 201, 201]);
      // Its gateway comes up: it is ready, and takes its turn again.
      ownGateway = await startGateway({ port: ownGatewayPort, usersUpstreams: stack.usersUrls, ridesUpstreams: stack.ridesUrls, timeoutMs: GATEWAY_UPSTREAM_TIMEOUT_MS, logger });
      expect((await httpClient(coming.url).get('/ready')).status).toBe(200);
      await httpClient(coming.url).delete('/api/v1/_count');
      await until(
        async () => {
          expect(await newRide()).toBe(201);
          return (await countOf(httpClient(coming.url))) > 0;
        },
        5000,
        'a new ride through the instance once ready',
      );
    } finally {
      await ownGateway?.close();
      await gateway.close();
      await coming.close();
    }
  });
});
