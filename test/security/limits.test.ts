import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, request } from '../../harness/http.ts';
import { HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from '../../src/shared/http/limits.ts';
import { sleep } from '../../src/shared/timeout.ts';
import { startStack, type Stack } from '../../harness/services/stack.ts';

/**
 * A client that holds a connection the slow way:
 * - `head`: sends a request head one byte at a time, never finishing it;
 * - `body`: sends a whole head announcing 1,000 bytes of body, then the body a byte at a time;
 * - `idle`: sends a whole request, reads the answer, then keeps the connection open, silent.
 */
function slowClient(url: string, mode: 'head' | 'body' | 'idle' = 'head'): { closedAfterMs: Promise<number>; stop(): void } {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  const started = Date.now();
  const head = 'GET /api/v1/users HTTP/1.1\r\nHost: x\r\nX-Slow: ';
  let sent = 0;
  if (mode === 'body') socket.write('POST /api/v1/no-such-path HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n');
  if (mode === 'idle') socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  socket.resume();
  const timer = setInterval(() => {
    if (!socket.writable || mode === 'idle') return;
    socket.write(mode === 'head' && sent < head.length ? (head[sent] as string) : 'a');
    sent += 1;
  }, 500);
  const closedAfterMs = new Promise<number>((resolve) => {
    socket.on('close', () => resolve(Date.now() - started));
    socket.on('error', () => undefined);
  });
  return {
    closedAfterMs,
    stop: () => {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

/**
 * A client that writes a whole request with a `size`-byte body (announced, or chunked) before it
 * reads anything, then reads the answer: what a plain upload does. Resolves with the answer's
 * text, or with the error that lost it (a reset while writing or reading).
 */
function uploadThenRead(url: string, size: number, framing: 'length' | 'chunked'): Promise<{ answer: string; error?: string }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const framingHeader = framing === 'length' ? `Content-Length: ${size}` : 'Transfer-Encoding: chunked';
  return new Promise((resolve) => {
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ answer: Buffer.concat(chunks).toString(), error: error.code ?? error.message }));
    socket.on('close', () => resolve({ answer: Buffer.concat(chunks).toString() }));
    socket.on('connect', async () => {
      socket.write(`PUT /api/v1/users HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\n${framingHeader}\r\n\r\n`);
      const piece = Buffer.alloc(64 * 1024, 'x');
      for (let sent = 0; sent < size && socket.writable; sent += piece.length) {
        const part = piece.subarray(0, Math.min(piece.length, size - sent));
        const framed = framing === 'length' ? part : Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]);
        if (!socket.write(framed)) await new Promise((drained) => socket.once('drain', drained));
      }
      if (framing === 'chunked' && socket.writable) socket.write('0\r\n\r\n');
    });
  });
}

describe('limits on every edge', () => {
  let database: DatabaseServiceHandle;
  let stack: Stack;

  beforeAll(async () => {
    database = await startDatabaseService({ slaves: 1 });
    stack = await startStack({ orchestratorUrl: database.orchestratorUrl });
  });
  afterAll(async () => {
    await stack?.close();
    await database?.stop();
  });

  it('cuts off slow-loris clients on the gateway, both services and the orchestrator, and keeps serving meanwhile', async () => {
    const targets = [stack.gatewayUrl, stack.usersUrls[0]!, stack.ridesUrls[0]!, database.orchestratorUrl];
    const slow = targets.flatMap((url) => Array.from({ length: 20 }, () => slowClient(url)));
    try {
      await sleep(1000);
      // Eighty sockets trickling bytes take nothing from anyone else.
      expect((await get(`${stack.gatewayUrl}/api/v1/users`)).status).toBeLessThan(300);
      expect((await get(`${database.orchestratorUrl}/api/v1/worker/list`)).status).toBe(200);
      const closed = await Promise.all(slow.map((client) => client.closedAfterMs));
      // Cut at the head deadline, give or take the server's once-a-second check: never left open.
      for (const ms of closed) expect(ms).toBeLessThan(HEADERS_TIMEOUT_MS + 5000);
    } finally {
      for (const client of slow) client.stop();
    }
  }, 30_000);

  it('cuts off a body that trickles in, and a keep-alive connection left idle, on every server', async () => {
    const targets = [stack.gatewayUrl, stack.usersUrls[0]!, stack.ridesUrls[0]!, database.orchestratorUrl];
    const bodies = targets.flatMap((url) => Array.from({ length: 5 }, () => slowClient(url, 'body')));
    const idle = targets.flatMap((url) => Array.from({ length: 2 }, () => slowClient(url, 'idle')));
    try {
      // A whole request's time limit counts from its first byte; the server checks about once a second.
      for (const ms of await Promise.all(bodies.map((client) => client.closedAfterMs))) expect(ms).toBeLessThan(REQUEST_TIMEOUT_MS + 5000);
      for (const ms of await Promise.all(idle.map((client) => client.closedAfterMs))) expect(ms).toBeLessThan(KEEP_ALIVE_TIMEOUT_MS + 5000);
      expect((await get(`${stack.gatewayUrl}/health`)).status).toBe(200);
    } finally {
      for (const client of [...bodies, ...idle]) client.stop();
    }
  }, 40_000);

  it('refuses oversized bodies and heads with a clean error, never a crash', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    const body = await request('PUT', `${stack.gatewayUrl}/api/v1/users`, { raw: `{"username":"${big}","password":"${'a'.repeat(40)}"}`, headers: { 'content-type': 'application/json' } });
    expect(body.status).toBe(413);
    expect(body.body).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const orchestratorBody = await request('POST', `${database.orchestratorUrl}/api/v1/db/read`, {
      raw: `{"table":"users","where":{"username":"${big}"}}`,
      headers: { 'content-type': 'application/json' },
    });
    expect(orchestratorBody.status).toBe(413);
    const head = await request('GET', `${stack.gatewayUrl}/api/v1/users`, { headers: { 'x-padding': 'y'.repeat(300 * 1024) } }).catch((error: unknown) => error);
    // Node answers a head over the limit with 431 and closes; either way the server lives on.
    if (!(head instanceof Error)) expect((head as { status: number }).status).toBe(431);
    expect((await get(`${stack.gatewayUrl}/health`)).status).toBe(200);
  });

  it.each(['length', 'chunked'] as const)('answers a 5 MB body (%s) with a 413 its sender reads after writing it all, on every server', async (framing) => {
    const targets = [stack.gatewayUrl, stack.usersUrls[0]!, stack.ridesUrls[0]!, database.orchestratorUrl];
    for (const url of targets) {
      const { answer, error } = await uploadThenRead(url, 5 * 1000 * 1000, framing);
      expect(error, `${url}: ${answer.slice(0, 100)}`).toBeUndefined();
      expect(answer, url).toMatch(/^HTTP\/1\.1 413 /);
      expect(answer).toContain('"code":"PAYLOAD_TOO_LARGE"');
    }
    expect((await get(`${stack.gatewayUrl}/health`)).status).toBe(200);
  });

  it('bounds the items of one query', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => `u${i}`);
    const answer = await request('POST', `${database.orchestratorUrl}/api/v1/db/read`, { json: { table: 'users', where: { username: { in: many } } } });
    expect(answer.status).toBe(400);
    const rows = Array.from({ length: 1001 }, (_, i) => ({ username: `bulk${i}`, password: 'a'.repeat(40) }));
    expect((await request('POST', `${database.orchestratorUrl}/api/v1/db/write`, { json: { op: 'insert', table: 'users', rows } })).status).toBe(400);
  });
});
