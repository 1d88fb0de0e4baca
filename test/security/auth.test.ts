import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, request, type HttpResponse } from '../../harness/http.ts';
import { heldStill } from '../../harness/held-still.ts';
import { staysTrue, until } from '../../harness/replicas.ts';
import type { Tokens } from '../../src/shared/auth/tokens.ts';
import type { ClusterStatus } from '../../src/dbaas/orchestrator/ClusterStatus.ts';
import { SseClient } from '../../harness/console/sse-client.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { startUsersService } from '../../src/services/users/users-service.ts';
import { HTTP_TIMEOUT_MS } from '../../harness/services/stack.ts';

type Caller = 'nobody' | 'stranger' | 'service' | 'admin';

describe('the database service refuses strangers, and the service role what is the admin\u2019s', () => {
  let service: DatabaseServiceHandle;
  let tokens: Tokens;
  const url = (route: string) => `${service.orchestratorUrl}${route}`;
  const password = 'c'.repeat(40);

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1, env: { RIDESHARE_AUTH: 'on', READ_WAIT_MS: '10000' } });
    tokens = service.tokens!;
  });
  afterAll(async () => {
    await service?.stop();
  });

  const headersOf = (caller: Caller): Record<string, string> => {
    if (caller === 'nobody') return {};
    if (caller === 'stranger') return { authorization: `Bearer ${'x'.repeat(43)}` };
    return { authorization: `Bearer ${tokens[caller]}` };
  };
  const call = (caller: Caller, method: string, route: string, json?: unknown): Promise<HttpResponse<{ error?: string; code?: string }>> =>
    request(method, url(route), { headers: headersOf(caller), ...(json === undefined ? {} : { json }) });

  it('made one token per role in DATA_DIR/secrets, readable by the owner only', () => {
    for (const role of ['service', 'admin'] as const) {
      const file = path.join(service.dataDir, 'secrets', `${role}.token`);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(file, 'utf8')).toBe(tokens[role]);
    }
    expect(tokens.service).not.toBe(tokens.admin);
    expect(tokens.service).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  const read = { table: 'users', where: {} };
  const write = () => ({ op: 'insert', table: 'users', values: { username: `u-${Math.random().toString(36).slice(2)}`, password } });
  // [method, route, status for: nobody, stranger, service, admin (-1: checked apart, it kills or streams), body].
  const matrix: [string, string, number, number, number, number, (() => unknown)?][] = [
    ['POST', '/api/v1/db/read', 401, 401, 200, 200, () => read],
    ['POST', '/api/v1/db/write', 401, 401, 200, 200, write],
    ['POST', '/api/v1/crash/master', 401, 401, 403, -1],
    ['POST', '/api/v1/crash/slave', 401, 401, 403, -1],
    ['PUT', '/api/v1/scaling/slaves', 401, 401, 403, 200, () => ({ slaves: 1 })],
    ['POST', '/api/v1/db/backup', 401, 401, 403, -1],
    ['POST', '/api/v1/db/clear', 401, 401, 403, 200],
    ['GET', '/api/v1/worker/list', 200, 200, 200, 200],
    ['GET', '/api/v1/cluster', 200, 200, 200, 200],
    ['GET', '/api/v1/scaling', 200, 200, 200, 200],
    ['GET', '/health', 200, 200, 200, 200],
    ['GET', '/ready', 200, 200, 200, 200],
    ['GET', '/metrics', 200, 200, 200, 200],
    ['GET', '/console', 200, 200, 200, 200],
    ['GET', '/console/', 302, 302, 302, 302],
    ['GET', '/console/assets/app.js', 200, 200, 200, 200],
    ['GET', '/api/v1/cluster/stream', -1, -1, -1, -1],
    // A method a path does not define is a 405 for anyone, and a path nobody defined a 404.
    ['GET', '/api/v1/db/clear', 405, 405, 405, 405],
    ['DELETE', '/api/v1/crash/master', 405, 405, 405, 405],
    ['POST', '/api/v1/no/such/route', 404, 404, 404, 404],
  ];

  it.each(matrix)('%s %s: %i without a token, %i with a wrong one, %i as service, %i as admin', async (method, route, ...rest) => {
    const expected = rest.slice(0, 4) as number[];
    const body = rest[4] as (() => unknown) | undefined;
    await until(async () => ((await get(url('/ready'))).status === 200 ? true : undefined), 20_000, 'ready');
    const callers: Caller[] = ['nobody', 'stranger', 'service', 'admin'];
    for (const [index, caller] of callers.entries()) {
      const status = expected[index] as number;
      if (status < 0) continue;
      const answer = await call(caller, method, route, body?.());
      expect(answer.status, `${caller}: ${answer.text.slice(0, 200)}`).toBe(status);
      if (status === 401) {
        expect(answer.body.code).toBe('UNAUTHENTICATED');
        expect(answer.headers['www-authenticate']).toBe('Bearer');
      }
      if (status === 403) expect(answer.body.code).toBe('FORBIDDEN');
    }
  });

  // Every operation db/write accepts: [what, status as service, status as admin, body].
  const operations: [string, number, number, () => unknown][] = [
    ['insert one row', 200, 200, write],
    ['insert several rows', 200, 200, () => ({ op: 'insert', table: 'users', rows: [(write() as { values: unknown }).values, (write() as { values: unknown }).values] })],
    ['update with a condition', 200, 200, () => ({ op: 'update', table: 'rides', values: { source: 2 }, where: { ride_id: 0 } })],
    ['update without a condition', 403, 200, () => ({ op: 'update', table: 'rides', values: { source: 2 }, where: {} })],
    ['delete with a condition', 200, 200, () => ({ op: 'delete', table: 'users', where: { username: 'nobody-at-all' } })],
    ['delete without a condition', 403, 200, () => ({ op: 'delete', table: 'rides', where: {} })],
    ['clear', 403, 200, () => ({ op: 'clear' })],
    ['clear with a requestId', 403, 200, () => ({ op: 'clear', requestId: `clear-${Date.now()}` })],
  ];

  it.each(operations)('db/write %s: %i as service, %i as admin', async (_what, asService, asAdmin, body) => {
    const username = `kept-${Math.random().toString(36).slice(2)}`;
    expect((await call('admin', 'POST', '/api/v1/db/write', { op: 'insert', table: 'users', values: { username, password } })).status).toBe(200);
    const serviceAnswer = await call('service', 'POST', '/api/v1/db/write', body());
    expect(serviceAnswer.status, serviceAnswer.text.slice(0, 200)).toBe(asService);
    if (asService === 403) {
      expect(serviceAnswer.body.code).toBe('FORBIDDEN');
      // Refused before it reached the master: the row is still there.
      const rows = await call('admin', 'POST', '/api/v1/db/read', { table: 'users', where: { username }, fresh: true });
      expect((rows.body as unknown as { rows: unknown[] }).rows).toHaveLength(1);
    }
    const adminAnswer = await call('admin', 'POST', '/api/v1/db/write', body());
    expect(adminAnswer.status, adminAnswer.text.slice(0, 200)).toBe(asAdmin);
  });

  it('clears a users instance only with the admin token its caller presents: the instance\u2019s service token cannot', async () => {
    const logger = createLogger('test-users', 'silent');
    const users = await startUsersService({ port: 0, db: { urls: [service.orchestratorUrl], token: tokens.service, timeoutMs: HTTP_TIMEOUT_MS }, logger });
    try {
      expect((await request('PUT', `${users.url}/api/v1/users`, { json: { username: `clear-${Date.now()}`, password } })).status).toBe(201);
      const unauthenticated = await request<{ code?: string }>('POST', `${users.url}/api/v1/db/clear`);
      expect(unauthenticated.status).toBe(401);
      expect(unauthenticated.body.code).toBe('UNAUTHENTICATED');
      const asService = await request<{ code?: string }>('POST', `${users.url}/api/v1/db/clear`, { headers: headersOf('service') });
      expect(asService.status).toBe(403);
      expect(asService.body.code).toBe('FORBIDDEN');
      expect((await request('GET', `${users.url}/api/v1/users`)).status).toBe(200);
      const asAdmin = await request('POST', `${users.url}/api/v1/db/clear`, { headers: headersOf('admin') });
      expect(asAdmin.status).toBe(200);
      expect(asAdmin.body).toEqual({});
      expect((await request('GET', `${users.url}/api/v1/users`)).status).toBe(204);
    } finally {
      await users.close();
    }
  });

  it('lets the admin crash a slave and the master (rows of the matrix apart because they kill)', async () => {
    for (const route of ['/api/v1/crash/slave', '/api/v1/crash/master']) {
      const crashed = await call('admin', 'POST', route);
      expect(crashed.status, route).toBe(200);
      await until(async () => ((await get(url('/ready'))).status === 200 ? true : undefined), 30_000, `ready again after ${route}`);
    }
  });

  it('lets the admin take a backup (a row of the matrix apart because it streams a file)', async () => {
    const backup = await call('admin', 'POST', '/api/v1/db/backup');
    expect(backup.status, backup.text.slice(0, 200)).toBe(200);
    // A SQLite file: its header, whatever the metadata headers say.
    expect(backup.text.startsWith('SQLite format 3')).toBe(true);
  });

  it('opens the cluster stream to anyone, as GET /api/v1/cluster (a row apart because it streams)', async () => {
    for (const caller of ['nobody', 'stranger'] as const) {
      const stream = await SseClient.open(url('/api/v1/cluster/stream'), headersOf(caller));
      expect('status' in stream ? stream.status : stream.response.statusCode, caller).toBe(200);
      if (!('status' in stream)) {
        await stream.next((event) => event.event === 'status', 10_000);
        stream.close();
      }
    }
  });

  it('returns password hashes to the admin only, and lets no one else match or sort on them', async () => {
    const username = `secret-${Date.now()}`;
    expect((await call('service', 'POST', '/api/v1/db/write', { op: 'insert', table: 'users', values: { username, password } })).status).toBe(200);
    const asService = await call('service', 'POST', '/api/v1/db/read', { table: 'users', where: { username }, fresh: true });
    expect(asService.status).toBe(200);
    expect((asService.body as unknown as { rows: unknown[] }).rows).toEqual([{ username }]);
    expect(asService.text).not.toContain(password);
    for (const query of [
      { table: 'users', columns: ['username', 'password'] },
      { table: 'users', where: { password } },
      { table: 'users', orderBy: [{ column: 'password' }] },
    ]) {
      const refused = await call('service', 'POST', '/api/v1/db/read', query);
      expect(refused.status, JSON.stringify(query)).toBe(403);
      expect(refused.body.error).toMatch(/password/);
    }
    expect((await call('service', 'POST', '/api/v1/db/write', { op: 'delete', table: 'users', where: { password } })).status).toBe(403);
    const asAdmin = await call('admin', 'POST', '/api/v1/db/read', { table: 'users', where: { username }, fresh: true });
    expect((asAdmin.body as unknown as { rows: unknown[] }).rows).toEqual([{ username, password }]);
  });

  it('answers a minSeq beyond every acknowledged write at once, without holding a slave', async () => {
    const written = await call('service', 'POST', '/api/v1/db/write', write());
    const seq = (written.body as unknown as { seq: number }).seq;
    const beyond = await call('service', 'POST', '/api/v1/db/read', { table: 'users', minSeq: seq + 1000 });
    // A slave would have waited READ_WAIT_MS (10 s) and then answered 503.
    expect(beyond.status).toBe(400);
    expect(beyond.body.error).toMatch(/beyond the last acknowledged write/);
    expect((await call('service', 'POST', '/api/v1/db/read', { table: 'users', minSeq: seq })).status).toBe(200);
  });

  it('counts for scaling only the valid reads of callers allowed to read', async () => {
    const total = async () => (await get<ClusterStatus>(url('/api/v1/cluster'))).body.reads.total;
    // Earlier reads are published every 200 ms: wait for a total that holds still.
    const before = await heldStill(total, 500, 10_000, 'the read count to settle');
    for (let i = 0; i < 20; i += 1) {
      await call('nobody', 'POST', '/api/v1/db/read', read);
      await call('stranger', 'POST', '/api/v1/db/read', read);
      await call('service', 'POST', '/api/v1/db/read', { table: 'no_such_table' });
      await call('service', 'POST', '/api/v1/db/read', { table: 'users', columns: ['password'] });
      await call('service', 'POST', '/api/v1/db/read', { table: 'users', minSeq: Number.MAX_SAFE_INTEGER });
    }
    await staysTrue(async () => (await total()) === before, 1000, 'junk not counted');
    for (let i = 0; i < 3; i += 1) expect((await call('service', 'POST', '/api/v1/db/read', read)).status).toBe(200);
    await until(async () => ((await total()) === before + 3 ? true : undefined), 5000, 'the three valid reads counted');
  });

  it('compares tokens whole: a prefix, a longer one or another scheme is a stranger', async () => {
    for (const authorization of [`Bearer ${tokens.admin.slice(0, -1)}`, `Bearer ${tokens.admin}x`, `Basic ${tokens.admin}`, `bearer ${tokens.admin}`, 'Bearer ']) {
      const answer = await request('POST', url('/api/v1/db/clear'), { headers: { authorization } });
      expect(answer.status, authorization.slice(0, 12)).toBe(401);
    }
  });

  it('passes a standby\u2019s admin call on with its credentials, and refuses it without them', async () => {
    const standby = await startDatabaseService({ cluster: service.cluster, dataDir: service.dataDir, slaves: 1, env: { RIDESHARE_AUTH: 'on' } });
    try {
      expect(standby.orchestrator.isSupervising).toBe(false);
      expect((await request('PUT', `${standby.orchestratorUrl}/api/v1/scaling/slaves`, { json: { slaves: 1 } })).status).toBe(401);
      const withService = await request('PUT', `${standby.orchestratorUrl}/api/v1/scaling/slaves`, { json: { slaves: 1 }, headers: headersOf('service') });
      expect(withService.status).toBe(403);
      const withAdmin = await request('PUT', `${standby.orchestratorUrl}/api/v1/scaling/slaves`, { json: { slaves: 1 }, headers: headersOf('admin') });
      expect(withAdmin.status).toBe(200);
    } finally {
      await standby.orchestrator.stop({ leaveWorkers: true });
    }
  });
});
