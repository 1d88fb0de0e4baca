/**
 * db/read and db/write are answered ahead of fastify (src/shared/http/front-door.ts) when the
 * request is an ordinary one. The same path with a query string is answered by fastify's routes,
 * so each request is sent both ways and the answers must be the same: status, body, the headers
 * a client reads, the request id, the access line and the metrics.
 */
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, request, type HttpResponse, type RequestOptions } from '../../harness/http.ts';
import { heldStill } from '../../harness/held-still.ts';
import { until } from '../../harness/replicas.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { BODY_LIMIT_BYTES } from '../../src/shared/http/limits.ts';

type Line = Record<string, unknown>;

function capture(): { lines: Line[]; stream: Writable } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Line);
      done();
    },
  });
  return { lines, stream };
}

/** The headers a client acts on; the date and a made-up request id differ from call to call. */
function visible(response: HttpResponse, sentId: boolean): Record<string, unknown> {
  const { headers } = response;
  return {
    status: response.status,
    contentType: headers['content-type'],
    connection: headers.connection,
    authenticate: headers['www-authenticate'],
    draining: headers['x-rideshare-draining'],
    requestId: sentId ? headers['x-request-id'] : headers['x-request-id'] === undefined ? 'none' : 'made',
  };
}

describe('the front door answers db/read and db/write as fastify does', () => {
  let service: DatabaseServiceHandle;
  let lines: Line[];
  let serviceAuth: Record<string, string>;
  const password = 'c'.repeat(40);

  beforeAll(async () => {
    const captured = capture();
    lines = captured.lines;
    service = await startDatabaseService({ slaves: 1, env: { RIDESHARE_AUTH: 'on' }, logger: createLogger('front-door-test', 'info', captured.stream) });
    serviceAuth = { authorization: `Bearer ${service.tokens?.service ?? ''}` };
    const seeded = await request('POST', `${service.orchestratorUrl}/api/v1/db/write`, { headers: serviceAuth, json: { op: 'insert', table: 'users', values: { username: 'door', password } } });
    expect(seeded.status).toBe(200);
  });
  afterAll(async () => {
    await service?.stop();
  });

  /** Sends the same request to the front door and (with a query string) to fastify. */
  async function both(path: string, options: RequestOptions): Promise<[HttpResponse<Record<string, unknown>>, HttpResponse<Record<string, unknown>>]> {
    const front = await request<Record<string, unknown>>('POST', `${service.orchestratorUrl}${path}`, options);
    const behind = await request<Record<string, unknown>>('POST', `${service.orchestratorUrl}${path}?via=fastify`, options);
    return [front, behind];
  }

  const read = { table: 'users', where: { username: 'door' }, fresh: true };
  const cases: [string, string, () => RequestOptions, number][] = [
    ['a read', '/api/v1/db/read', () => ({ headers: { ...serviceAuth }, json: read }), 200],
    ['a read with a request id', '/api/v1/db/read', () => ({ headers: { ...serviceAuth, 'x-request-id': 'door-read-1' }, json: read }), 200],
    ['a read with an unusable request id', '/api/v1/db/read', () => ({ headers: { ...serviceAuth, 'x-request-id': 'no spaces allowed' }, json: read }), 200],
    ['a read without a token', '/api/v1/db/read', () => ({ json: read }), 401],
    ['a read with a stranger\u2019s token', '/api/v1/db/read', () => ({ headers: { authorization: `Bearer ${'x'.repeat(43)}` }, json: read }), 401],
    ['a read from another site', '/api/v1/db/read', () => ({ headers: { ...serviceAuth, origin: 'http://elsewhere.example' }, json: read }), 403],
    ['malformed JSON', '/api/v1/db/read', () => ({ headers: { ...serviceAuth, 'content-type': 'application/json' }, raw: '{"table": "users"' }), 400],
    ['no body', '/api/v1/db/read', () => ({ headers: { ...serviceAuth } }), 400],
    ['an empty JSON body', '/api/v1/db/read', () => ({ headers: { ...serviceAuth, 'content-type': 'application/json' }, raw: '' }), 400],
    ['a JSON array', '/api/v1/db/read', () => ({ headers: { ...serviceAuth }, json: [1, 2] }), 400],
    ['a text/plain body (left to fastify)', '/api/v1/db/read', () => ({ headers: { ...serviceAuth, 'content-type': 'text/plain' }, raw: JSON.stringify(read) }), 200],
    ['a secret column for the service role', '/api/v1/db/read', () => ({ headers: { ...serviceAuth }, json: { table: 'users', columns: ['password'] } }), 403],
    ['a clear through db/write for the service role', '/api/v1/db/write', () => ({ headers: { ...serviceAuth }, json: { op: 'clear' } }), 403],
    ['a bad write', '/api/v1/db/write', () => ({ headers: { ...serviceAuth }, json: { op: 'insert', table: 'users', values: { username: 'nopass' } } }), 400],
    ['a duplicate write', '/api/v1/db/write', () => ({ headers: { ...serviceAuth }, json: { op: 'insert', table: 'users', values: { username: 'door', password } } }), 409],
    ['a minSeq beyond every write', '/api/v1/db/read', () => ({ headers: { ...serviceAuth }, json: { table: 'users', minSeq: 1_000_000 } }), 400],
  ];

  it.each(cases)('%s', async (_name, path, optionsOf, status) => {
    const options = optionsOf();
    const sentId = options.headers?.['x-request-id'] !== undefined && !options.headers['x-request-id'].includes(' ');
    const [front, behind] = await both(path, options);
    expect(front.status).toBe(status);
    expect(visible(front, sentId)).toEqual(visible(behind, sentId));
    expect(front.body).toEqual(behind.body);
  });

  it('a write and its request id: both ways store the row and echo the id', async () => {
    const write = (name: string) => ({ op: 'insert', table: 'users', values: { username: name, password } });
    const front = await request<{ seq: number; changes: number }>('POST', `${service.orchestratorUrl}/api/v1/db/write`, {
      headers: { ...serviceAuth, 'x-request-id': 'door-write-1' },
      json: write('front'),
    });
    const behind = await request<{ seq: number; changes: number }>('POST', `${service.orchestratorUrl}/api/v1/db/write?x`, {
      headers: { ...serviceAuth, 'x-request-id': 'door-write-2' },
      json: write('behind'),
    });
    expect(visible(front, true)).toEqual({ ...visible(behind, true), requestId: 'door-write-1' });
    expect(behind.headers['x-request-id']).toBe('door-write-2');
    expect(front.body.changes).toBe(1);
    expect(Object.keys(front.body).sort()).toEqual(Object.keys(behind.body).sort());
    // The request id reached the master with the write (its idempotency key starts with it).
    const again = await request<{ rows: unknown[] }>('POST', `${service.orchestratorUrl}/api/v1/db/read`, {
      headers: serviceAuth,
      json: { table: 'users', where: { username: 'front' }, fresh: true },
    });
    expect(again.body.rows).toHaveLength(1);
  });

  it('a body over the limit sent without a length is a 413 the sender reads, and the connection closes', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const chunks = Math.ceil((BODY_LIMIT_BYTES * 1.5) / chunk.length);
    const oversized = async function* () {
      yield '{"table":"users","where":{"username":"';
      for (let i = 0; i < chunks; i += 1) yield chunk;
      yield '"}}';
    };
    const { request: send } = await import('undici');
    const answers = [];
    for (const path of ['/api/v1/db/read', '/api/v1/db/read?via=fastify']) {
      const response = await send(`${service.orchestratorUrl}${path}`, {
        method: 'POST',
        headers: { ...serviceAuth, 'content-type': 'application/json' },
        body: Readable.from(oversized()),
        signal: AbortSignal.timeout(30_000),
      });
      answers.push({ status: response.statusCode, connection: response.headers.connection, body: (await response.body.json()) as unknown });
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toMatchObject({ status: 413, connection: 'close', body: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('tells the access line and the metrics of a front-door request as of any other', async () => {
    const id = 'door-observed-1';
    const answer = await request('POST', `${service.orchestratorUrl}/api/v1/db/read`, { headers: { ...serviceAuth, 'x-request-id': id }, json: read });
    expect(answer.status).toBe(200);
    const refused = await request('POST', `${service.orchestratorUrl}/api/v1/db/read`, { headers: { 'x-request-id': `${id}-refused` }, json: read });
    expect(refused.status).toBe(401);
    const metrics = (await get(`${service.orchestratorUrl}/metrics`)).text;
    const count = (status: number) =>
      Number(new RegExp(`rideshare_http_requests_total\\{method="POST",route="/api/v1/db/read",status="${status}",process="orchestrator"\\} (\\d+)`).exec(metrics)?.[1] ?? 'NaN');
    expect(count(200)).toBeGreaterThanOrEqual(1);
    expect(count(401)).toBeGreaterThanOrEqual(1);
    const line = lines.find((entry) => entry.reqId === id && entry.msg === 'request');
    expect(line).toMatchObject({ method: 'POST', url: '/api/v1/db/read', status: 200 });
    expect(typeof line?.ms).toBe('number');
    expect(lines.find((entry) => entry.reqId === `${id}-refused` && entry.msg === 'request')).toMatchObject({ status: 401 });
  });

  it('counts front-door reads for the console and scaling, and none of the refused ones', async () => {
    const total = async () => (await service.orchestrator.clusterStatus()).reads.total;
    const validRead = async () => expect((await request('POST', `${service.orchestratorUrl}/api/v1/db/read`, { headers: serviceAuth, json: read })).status).toBe(200);
    // The counts are published every 200 ms: the earlier tests' reads are in once the total holds still that long.
    const before = await heldStill(total, 300, 10_000, 'the earlier reads published');
    for (let i = 0; i < 3; i += 1) await validRead();
    expect((await request('POST', `${service.orchestratorUrl}/api/v1/db/read`, { json: read })).status).toBe(401);
    expect((await request('POST', `${service.orchestratorUrl}/api/v1/db/read`, { headers: serviceAuth, json: { table: 'nothing' } })).status).toBe(400);
    // A last valid read marks the end: a published total that holds it holds every count before it.
    await validRead();
    const after = await until(
      async () => {
        const now = await total();
        return now >= before + 4 ? now : undefined;
      },
      10_000,
      'the reads published',
    );
    expect(after - before).toBe(4);
  });
});
