/**
 * Promises of docs/services.md that no other test pins: what the rides service answers when the
 * users service cannot be asked (down, or answering 5xx), repeated query parameters, and the 503s
 * of the single-resource routes and of db/clear while the database service is down.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { httpClient, type HttpClient } from '../../harness/http.ts';
import { startGateway } from '../../src/services/gateway/gateway.ts';
import { GATEWAY_UPSTREAM_TIMEOUT_MS } from '../../src/services/gateway/settings.ts';
import type { ServiceHandle } from '../../src/services/http/service-app.ts';
import { startRidesService } from '../../src/services/rides/rides-service.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { freePort } from '../../src/shared/ports.ts';
import { addRide, addUser, AUG_2021, expectError, MAY_2020 } from '../../harness/services/scenario-helpers.ts';
import { startStack, type Stack } from '../../harness/services/stack.ts';

const logger = createLogger('test-services', process.env.LOG_LEVEL ?? 'silent');

/** A users "instance" that answers every request with a 500, as a broken deployment would. */
async function failingUsersInstance(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = http.createServer((request, response) => {
    requests += 1;
    request.resume();
    response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'broken', code: 'INTERNAL' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * A rides instance behind a gateway whose only users instance is `usersUrl`: the rides service's
 * user lookups go through this gateway (GATEWAY_URL), so they meet whatever `usersUrl` does.
 */
async function ridesWithUsersAt(database: DatabaseServiceHandle, usersUrl: string): Promise<{ rides: HttpClient; close: () => Promise<void> }> {
  const gatewayUrl = `http://127.0.0.1:${await freePort()}`;
  const db = { urls: [database.orchestratorUrl], timeoutMs: 8000, retryDelayMs: 50 };
  const handles: ServiceHandle[] = [];
  const close = async (): Promise<void> => {
    for (const handle of handles.reverse()) await handle.close();
  };
  try {
    const rides = await startRidesService({ port: 0, db, gatewayUrl, publicHost: 'http://rides-0.test', now: MAY_2020, httpTimeoutMs: 2000, logger });
    handles.push(rides);
    handles.push(
      await startGateway({ port: Number(new URL(gatewayUrl).port), usersUpstreams: [usersUrl], ridesUpstreams: [rides.url], coolDownMs: 100, timeoutMs: GATEWAY_UPSTREAM_TIMEOUT_MS, logger }),
    );
    return { rides: httpClient(rides.url), close };
  } catch (error) {
    await close();
    throw error;
  }
}

describe('the services’ contract where no other test looks', () => {
  let database: DatabaseServiceHandle;
  let stack: Stack;

  beforeAll(async () => {
    database = await startDatabaseService();
    stack = await startStack({ orchestratorUrl: database.orchestratorUrl, now: MAY_2020, httpTimeoutMs: 2000 });
  });

  afterAll(async () => {
    await stack?.close();
    await database?.stop();
  });

  it('a ride creation or a join whose user lookup cannot be made (no users instance answers) is a 503, and stores nothing', async () => {
    const creator = await addUser(stack);
    const rider = await addUser(stack);
    const rideId = await addRide(stack, { created_by: creator });
    const deadUsers = `http://127.0.0.1:${await freePort()}`;
    const cut = await ridesWithUsersAt(database, deadUsers);
    try {
      expectError(await cut.rides.post('/api/v1/rides', { created_by: creator, timestamp: AUG_2021, source: 1, destination: 2 }), 503, 'UNAVAILABLE');
      expectError(await cut.rides.post(`/api/v1/rides/${rideId}`, { username: rider }), 503, 'UNAVAILABLE');
    } finally {
      await cut.close();
    }
    // Nothing of either call reached the database: the only ride is the one made above, and it has no rider.
    expect((await stack.gateway.get('/api/v1/rides/count')).body).toEqual([1]);
    const details = await stack.gateway.get<{ users: string[] }>(`/api/v1/rides/${rideId}`);
    expect(details.status).toBe(200);
    expect(details.body.users).toEqual([]);
  });

  it('a user lookup that the users service answers with a 5xx is a 503, not a 400 "unknown user"', async () => {
    const creator = await addUser(stack);
    const broken = await failingUsersInstance();
    const cut = await ridesWithUsersAt(database, broken.url);
    try {
      const before = (await stack.gateway.get<number[]>('/api/v1/rides/count')).body[0]!;
      expectError(await cut.rides.post('/api/v1/rides', { created_by: creator, timestamp: AUG_2021, source: 1, destination: 2 }), 503, 'UNAVAILABLE');
      expect(broken.requests()).toBeGreaterThanOrEqual(1);
      expect((await stack.gateway.get('/api/v1/rides/count')).body).toEqual([before]);
    } finally {
      await cut.close();
      await broken.close();
    }
  });

  it.each([['/api/v1/rides?source=1&source=2&destination=3'], ['/api/v1/rides?source=1&destination=3&destination=4'], ['/api/v1/users?username=a&username=b']])(
    'a repeated query parameter is a 400 (%s)',
    async (path) => {
      expectError(await stack.gateway.get(path), 400, 'BAD_REQUEST');
    },
  );

  it('while the database service cannot be reached, the single-resource routes and db/clear answer 503 JSON', async () => {
    const creator = await addUser(stack);
    const rideId = await addRide(stack, { created_by: creator });
    // Services whose only orchestrator address answers nothing (a closed port), beside the real ones.
    // Writes are retried after a 503 for writeRetryWindowMs; a short window keeps the test short.
    const cutOff = await startStack({ orchestratorUrl: `http://127.0.0.1:${await freePort()}`, now: MAY_2020, httpTimeoutMs: 2000, writeRetryWindowMs: 300 });
    try {
      expectError(await cutOff.gateway.get(`/api/v1/rides/${rideId}`), 503, 'UNAVAILABLE');
      expectError(await cutOff.gateway.post(`/api/v1/rides/${rideId}`, { username: creator }), 503, 'UNAVAILABLE');
      expectError(await cutOff.gateway.delete(`/api/v1/rides/${rideId}`), 503, 'UNAVAILABLE');
      expectError(await cutOff.gateway.delete(`/api/v1/users/${creator}`), 503, 'UNAVAILABLE');
      expectError(await cutOff.users[0]!.post('/api/v1/db/clear'), 503, 'UNAVAILABLE');
      expectError(await cutOff.rides[0]!.post('/api/v1/db/clear'), 503, 'UNAVAILABLE');
    } finally {
      await cutOff.close();
    }
    // The real services still see the user and the ride: nothing answered 503 went through.
    expect((await stack.gateway.get(`/api/v1/users?username=${creator}`)).status).toBe(200);
    expect((await stack.gateway.get(`/api/v1/rides/${rideId}`)).status).toBe(200);
  });

  it('another method on /health, /ready and /metrics is a 405 naming GET, on the gateway and on each service', async () => {
    for (const server of [stack.gateway, stack.users[0]!, stack.rides[0]!]) {
      for (const path of ['/health', '/ready', '/metrics']) {
        const answer = await server.post(path);
        expectError(answer, 405, 'METHOD_NOT_ALLOWED');
        expect(String(answer.headers.allow).split(/,\s*/)).toContain('GET');
      }
    }
  });
});
