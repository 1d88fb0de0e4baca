/**
 * The access line: one per request at info, cheap (no redaction: its fields hold no secret), and
 * a slow request told at warn even with the access log off.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpApp } from '../../src/shared/http/app.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { sleep } from '../../src/shared/timeout.ts';
import { get } from '../../harness/http.ts';

function capture(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('access lines', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function serve(accessLog: boolean) {
    const { lines, stream } = capture();
    const logger = createLogger('access-test', 'warn', stream);
    app = createHttpApp({ logger, name: 'access-test', observability: { accessLog, metrics: false } });
    app.get('/fast', async () => ({ ok: true }));
    app.get('/slow', async () => {
      await sleep(1100);
      return { ok: true };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address() as { port: number };
    return { lines, url: `http://127.0.0.1:${address.port}` };
  }

  it('a slow request is logged at warn with its request id, with the access log off and the level at warn', async () => {
    const { lines, url } = await serve(false);
    expect((await get(`${url}/fast`)).status).toBe(200);
    expect((await get(`${url}/slow`, { headers: { 'x-request-id': 'slow-one' } })).status).toBe(200);
    const told = lines.filter((line) => line.msg === 'slow request' || line.msg === 'request');
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ msg: 'slow request', reqId: 'slow-one', url: '/slow', status: 200, level: 40 });
  });
});
