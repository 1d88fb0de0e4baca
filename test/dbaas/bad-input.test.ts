import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { post, request } from '../../harness/http.ts';

describe('bad requests to the orchestrator', () => {
  let service: DatabaseServiceHandle;
  const url = (path: string) => `${service.orchestratorUrl}${path}`;
  const password = 'c'.repeat(40);

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1 });
    await post(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'keeper', password } });
  });
  afterAll(async () => {
    await service?.stop();
  });

  const cases: [string, string, unknown, RegExp][] = [
    ['malformed JSON', '/api/v1/db/read', '{"table": "users"', /not valid JSON/],
    ['a JSON array', '/api/v1/db/read', [1, 2], /JSON object/],
    ['no body', '/api/v1/db/read', undefined, /JSON object/],
    ['an unknown table', '/api/v1/db/read', { table: 'passwords' }, /unknown table 'passwords'/],
    ['an unknown column', '/api/v1/db/read', { table: 'users', columns: ['email'] }, /unknown column 'email'/],
    ['an unknown where column', '/api/v1/db/read', { table: 'users', where: { 'username OR 1=1': 'x' } }, /unknown column/],
    ['an inherited name as a column', '/api/v1/db/read', { table: 'users', columns: ['constructor'] }, /unknown column 'constructor'/],
    ['an inherited name in where', '/api/v1/db/read', { table: 'rides', where: { toString: 1 } }, /unknown column 'toString'/],
    ['an inherited name in orderBy', '/api/v1/db/read', { table: 'rides', orderBy: [{ column: 'valueOf' }] }, /unknown column 'valueOf'/],
    ['an inherited name in values', '/api/v1/db/write', { op: 'insert', table: 'users', values: { username: 'proto', password, hasOwnProperty: 1 } }, /unknown column 'hasOwnProperty'/],
    ['an unknown field', '/api/v1/db/read', { table: 'users', sql: 'SELECT 1' }, /sql/],
    ['a wrong type', '/api/v1/db/write', { op: 'insert', table: 'rides', values: { created_by: 'keeper', timestamp: 'soon', source: 1, destination: 2 } }, /column 'timestamp' expects an integer/],
    [
      'a 40-digit number',
      '/api/v1/db/write',
      { op: 'insert', table: 'rides', values: { created_by: 'keeper', timestamp: 1, source: Number('1234567890123456789012345678901234567890'), destination: 2 } },
      /column 'source' expects an integer/,
    ],
    ['a huge value', '/api/v1/db/write', { op: 'insert', table: 'users', values: { username: 'x'.repeat(100_000), password } }, /longer than 1024/],
    ['a missing column', '/api/v1/db/write', { op: 'insert', table: 'users', values: { username: 'nopass' } }, /'password' is required/],
    ['an unknown operation', '/api/v1/db/write', { op: 'drop', table: 'users' }, /op/],
    ['a delete without where', '/api/v1/db/write', { op: 'delete', table: 'users' }, /where/],
    ['a bad request id', '/api/v1/db/write', { op: 'clear', requestId: 42 }, /requestId/],
    ['an unknown operator', '/api/v1/db/read', { table: 'rides', where: { source: { like: '%' } } }, /like|Unrecognized/i],
  ];

  it.each(cases)('%s is a 400 that says what is wrong', async (_name, path, body, message) => {
    const sent = typeof body === 'string' ? { raw: body, headers: { 'content-type': 'application/json' } } : { json: body };
    const response = await request<{ error: string; code: string }>('POST', url(path), sent);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('BAD_REQUEST');
    expect(response.body.error).toMatch(message);
  });

  it('SQL in a value is stored and matched as plain text', async () => {
    const sneaky = "x'); DROP TABLE users; --";
    const write = await post<{ seq: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: sneaky, password } });
    expect(write.status).toBe(200);
    const read = await post<{ rows: { username: string }[] }>(url('/api/v1/db/read'), { table: 'users', where: { username: sneaky }, minSeq: write.body.seq });
    expect(read.body.rows).toEqual([{ username: sneaky, password }]);
  });

  it('a duplicate key is a 409 and leaves the stored row as it was', async () => {
    const duplicate = await post<{ code: string }>(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'keeper', password: 'd'.repeat(40) } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe('UNIQUE_VIOLATION');
    const read = await post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'users', where: { username: 'keeper' }, fresh: true });
    expect(read.body.rows).toEqual([{ username: 'keeper', password }]);
  });

  it('a ride for an unknown user is a 409 foreign-key violation', async () => {
    const response = await post<{ code: string }>(url('/api/v1/db/write'), { op: 'insert', table: 'rides', values: { created_by: 'ghost', timestamp: 1, source: 1, destination: 2 } });
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('FOREIGN_KEY_VIOLATION');
  });

  it('every stored row survived the bad requests', async () => {
    const read = await post<{ rows: { username: string }[] }>(url('/api/v1/db/read'), { table: 'users', fresh: true });
    expect(read.body.rows.map((row) => row.username).sort()).toEqual(['keeper', "x'); DROP TABLE users; --"]);
  });
});

describe('a database service with no slave alive', () => {
  let service: DatabaseServiceHandle;

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 0, env: { RPC_TIMEOUT_MS: '1000' } });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('answers a read with a 503 JSON error within the RPC timeout', async () => {
    const started = Date.now();
    const response = await post<{ code: string; error: string }>(`${service.orchestratorUrl}/api/v1/db/read`, { table: 'users' });
    const elapsed = Date.now() - started;
    expect(response.status).toBe(503);
    expect(response.body.code).toBe('TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(3000);
  });

  it('still takes writes on the master', async () => {
    const response = await post<{ seq: number }>(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'solo', password: 'e'.repeat(40) } });
    expect(response.status).toBe(200);
  });
});

describe('multi-row inserts', () => {
  let service: DatabaseServiceHandle;
  const url = (path: string) => `${service.orchestratorUrl}${path}`;

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1 });
    await post(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: 'fleet', password: 'a'.repeat(40) } });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('inserts every row in one write with consecutive ids', async () => {
    const rows = Array.from({ length: 1000 }, (_, i) => ({ created_by: 'fleet', timestamp: 2_000_000_000 + i, source: 1, destination: 2 }));
    const write = await post<{ changes: number; insertId: number; seq: number }>(url('/api/v1/db/write'), { op: 'insert', table: 'rides', rows });
    expect(write.status).toBe(200);
    expect(write.body.changes).toBe(1000);
    const read = await post<{ rows: { ride_id: number; timestamp: number }[] }>(url('/api/v1/db/read'), {
      table: 'rides',
      columns: ['ride_id', 'timestamp'],
      orderBy: [{ column: 'ride_id', direction: 'asc' }],
      minSeq: write.body.seq,
    });
    expect(read.body.rows).toHaveLength(1000);
    for (const [i, row] of read.body.rows.entries()) expect(row).toEqual({ ride_id: write.body.insertId + i, timestamp: 2_000_000_000 + i });
  });

  it('one bad row rejects the whole write and names the row', async () => {
    const rows = [
      { created_by: 'fleet', timestamp: 1, source: 1, destination: 2 },
      { created_by: 'fleet', timestamp: 'x', source: 1, destination: 2 },
    ];
    const write = await post<{ error: string }>(url('/api/v1/db/write'), { op: 'insert', table: 'rides', rows });
    expect(write.status).toBe(400);
    expect(write.body.error).toMatch(/rows\[1\]/);
  });

  it('a row that breaks a constraint rolls back the rows before it', async () => {
    const rows = [
      { created_by: 'fleet', timestamp: 1, source: 9, destination: 10 },
      { created_by: 'ghost', timestamp: 1, source: 9, destination: 10 },
    ];
    const write = await post<{ code: string }>(url('/api/v1/db/write'), { op: 'insert', table: 'rides', rows });
    expect(write.status).toBe(409);
    const read = await post<{ rows: unknown[] }>(url('/api/v1/db/read'), { table: 'rides', where: { source: 9 }, fresh: true });
    expect(read.body.rows).toEqual([]);
  });
});

describe('methods and paths of the orchestrator', () => {
  let service: DatabaseServiceHandle;

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1 });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it.each([
    ['GET', '/api/v1/db/read', 'POST'],
    ['PUT', '/api/v1/db/write', 'POST'],
    ['DELETE', '/api/v1/worker/list', 'GET'],
    ['GET', '/api/v1/crash/master', 'POST'],
    ['POST', '/api/v1/scaling', 'GET'],
    ['GET', '/api/v1/scaling/slaves', 'PUT'],
    ['POST', '/health', 'GET'],
    ['PUT', '/ready', 'GET'],
    ['DELETE', '/metrics', 'GET'],
  ])('%s %s is a 405 naming the allowed method', async (method, path, allowed) => {
    const response = await request<{ code: string }>(method, `${service.orchestratorUrl}${path}`);
    expect(response.status).toBe(405);
    expect(response.body.code).toBe('METHOD_NOT_ALLOWED');
    expect(response.headers.allow?.split(/,\s*/)).toContain(allowed);
  });

  it('an unknown path is a JSON 404', async () => {
    const response = await request<{ code: string }>('GET', `${service.orchestratorUrl}/api/v1/nothing`);
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('NOT_FOUND');
  });
});
