import { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerClusterStream } from '../../src/dbaas/orchestrator/console/stream.ts';
import type { StreamSlotLimits } from '../../src/dbaas/orchestrator/console/StreamSlots.ts';
import { createHttpApp, listen, type HttpHandle } from '../../src/shared/http/app.ts';
import { installAuth } from '../../src/shared/http/auth.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { SseClient, type Refusal } from '../../harness/console/sse-client.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A status source the test changes by hand, counting how often it is read. */
class FakeCluster extends EventEmitter<{ event: [] }> {
  reads = 0;
  /** The most reads ever in progress at once. */
  mostAtOnce = 0;
  failing: string | undefined;
  state = { workers: 2, failovers: 0 };
  private inProgress = 0;

  /** Each read takes `readMs`, as a status read from ZooKeeper takes a while. */
  constructor(private readonly readMs = 0) {
    super();
  }

  read = async () => {
    this.reads += 1;
    this.inProgress += 1;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.inProgress);
    try {
      if (this.readMs > 0) await sleep(this.readMs);
      if (this.failing) throw new Error(this.failing);
      return { at: new Date().toISOString(), ...this.state };
    } finally {
      this.inProgress -= 1;
    }
  };
}

/** Resolves once `probe` holds, polling every 10 ms; throws after `timeoutMs` saying what it waited for. */
async function until(probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await sleep(10);
  }
}

/** Resolves once `count()` has held still for `windowMs`. */
async function settles(count: () => number, windowMs: number, timeoutMs: number, what: string): Promise<void> {
  let last = count();
  let since = Date.now();
  await until(
    () => {
      if (count() !== last) [last, since] = [count(), Date.now()];
      return Date.now() - since >= windowMs;
    },
    timeoutMs,
    what,
  );
}

describe('GET /api/v1/cluster/stream (server-sent events)', () => {
  let app: FastifyInstance | undefined;
  let server: HttpHandle | undefined;
  const clients: SseClient[] = [];

  const tokens = { service: 'service-token-for-the-stream-test', admin: 'admin-token-for-the-stream-test' };

  async function serve(cluster: FakeCluster, options: { pollMs?: number; heartbeatMs?: number; slots?: Partial<StreamSlotLimits>; auth?: boolean } = {}): Promise<string> {
    const { auth, ...streamOptions } = options;
    app = createHttpApp({ name: 'stream-test', logger: createLogger('stream-test', 'warn') });
    if (auth) installAuth(app, { enabled: true, tokens, accessOf: () => 'open' });
    registerClusterStream(app, { status: cluster.read, changes: cluster, ...streamOptions });
    server = await listen(app, { port: 0 });
    return `${server.url}/api/v1/cluster/stream`;
  }

  async function connect(url: string, from?: { address?: string; token?: string }): Promise<SseClient> {
    const client = await SseClient.open(url, from?.token ? { authorization: `Bearer ${from.token}` } : {}, from?.address);
    if (!(client instanceof SseClient)) throw new Error(`stream refused: ${client.status} ${client.body}`);
    clients.push(client);
    return client;
  }

  /** A closed stream frees its place once the server has seen the close: asks until it has. */
  async function connectOnceFreed(url: string, from?: { address?: string }): Promise<SseClient> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const client = await SseClient.open(url, {}, from?.address);
      if (client instanceof SseClient) {
        clients.push(client);
        return client;
      }
      if (Date.now() > deadline) throw new Error(`the stream's place was not freed within 5 s: ${client.status} ${client.body}`);
      await sleep(20);
    }
  }

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server?.close();
    server = undefined;
    app = undefined;
  });

  it('sends the whole status at once, then only changes', async () => {
    const cluster = new FakeCluster();
    const client = await connect(await serve(cluster, { pollMs: 40 }));
    expect(client.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(client.response.headers['cache-control']).toContain('no-cache');
    expect(client.response.headers['x-request-id']).toBeTruthy();
    const first = await client.next((event) => event.event === 'status', 2000);
    expect(JSON.parse(first.data)).toMatchObject({ workers: 2, failovers: 0 });

    // Polled five more times, but nothing changed (the timestamp aside): nothing sent.
    const polled = cluster.reads;
    await until(() => cluster.reads >= polled + 5, 10_000, 'five more polls');
    expect(client.events).toHaveLength(1);

    cluster.state = { workers: 2, failovers: 1 };
    const changed = await client.next((event) => JSON.parse(event.data).failovers === 1, 2000);
    expect(changed.event).toBe('status');
    expect(client.events).toHaveLength(2);
  });

  it('reads at once when supervision records an event, without waiting for the next poll', async () => {
    const cluster = new FakeCluster();
    const client = await connect(await serve(cluster, { pollMs: 60_000 }));
    await client.next((event) => event.event === 'status', 2000);
    cluster.state = { workers: 1, failovers: 0 };
    const started = Date.now();
    cluster.emit('event');
    await client.next((event) => JSON.parse(event.data).workers === 1, 2000);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('shares one poller between clients and stops reading when the last one leaves', async () => {
    // Reads slower than the poll interval: one poller reads one at a time, two would overlap.
    const cluster = new FakeCluster(40);
    const url = await serve(cluster, { pollMs: 10 });
    const one = await connect(url);
    const two = await connect(url);
    await one.next((event) => event.event === 'status', 2000);
    await two.next((event) => event.event === 'status', 2000);
    const before = cluster.reads;
    await until(() => cluster.reads >= before + 5, 10_000, 'five more polls');
    expect(cluster.mostAtOnce).toBe(1);
    one.close();
    two.close();
    // Polling stops: the reads hold still for many poll intervals (a poller left running fails this).
    await settles(() => cluster.reads, 400, 10_000, 'the reads to stop');
  });

  it('tells a status that cannot be read as a problem, and the recovery as a status', async () => {
    const cluster = new FakeCluster();
    cluster.failing = 'ZooKeeper is unreachable';
    const client = await connect(await serve(cluster, { pollMs: 30 }));
    const problem = await client.next((event) => event.event === 'problem', 2000);
    expect(JSON.parse(problem.data)).toEqual({ error: 'ZooKeeper is unreachable' });
    cluster.failing = undefined;
    await client.next((event) => event.event === 'status', 2000);
  });

  it('sends a heartbeat comment on a quiet stream', async () => {
    const cluster = new FakeCluster();
    const client = await connect(await serve(cluster, { pollMs: 60_000, heartbeatMs: 50 }));
    await until(() => client.comments.filter((comment) => comment.startsWith('heartbeat')).length >= 2, 5000, 'two heartbeats');
  });

  it('bounds the number of open streams', async () => {
    const cluster = new FakeCluster();
    const url = await serve(cluster, { slots: { total: 2, reservedForAdmin: 0 } });
    await connect(url);
    await connect(url);
    const refused = await SseClient.open(url);
    expect(refused).not.toBeInstanceOf(SseClient);
    const { status, body } = refused as Refusal;
    expect(status).toBe(503);
    expect(JSON.parse(body)).toMatchObject({ code: 'UNAVAILABLE', error: expect.stringMatching(/2 cluster streams are open/) });
    // A stream that ends frees its place.
    clients[0]?.close();
    await connectOnceFreed(url);
  });

  it('lets one client address hold no more than its share of the slots', async () => {
    const url = await serve(new FakeCluster());
    // The defaults: 32 in all, 8 of them for the admin role, 4 per address.
    for (let index = 0; index < 4; index += 1) await connect(url, { address: '127.0.0.2' });
    const refused = (await SseClient.open(url, {}, '127.0.0.2')) as Refusal;
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'TOO_MANY_REQUESTS', error: expect.stringMatching(/4 cluster streams are open from 127\.0\.0\.2/) });
    // Another address still gets in, and a stream that ends gives its address its place back.
    await connect(url, { address: '127.0.0.3' });
    clients[0]?.close();
    await connectOnceFreed(url, { address: '127.0.0.2' });
  });

  it('keeps slots for the admin role when everyone else has filled theirs', async () => {
    const url = await serve(new FakeCluster(), { auth: true });
    // 24 shared slots, 4 per address: six hosts take them all, with or without the service token.
    for (let host = 2; host < 8; host += 1) {
      for (let index = 0; index < 4; index += 1) await connect(url, { address: `127.0.0.${host}`, ...(host % 2 === 0 ? { token: tokens.service } : {}) });
    }
    const stranger = (await SseClient.open(url, {}, '127.0.0.9')) as Refusal;
    expect(stranger.status).toBe(503);
    expect(JSON.parse(stranger.body)).toMatchObject({ code: 'UNAVAILABLE', error: expect.stringMatching(/not kept for the admin role/) });

    // The admin gets in, from an address that already holds its share as well.
    const admin = await connect(url, { address: '127.0.0.2', token: tokens.admin });
    await admin.next((event) => event.event === 'status', 2000);
    for (let index = 1; index < 8; index += 1) await connect(url, { address: '127.0.0.10', token: tokens.admin });
    // 32 in all: even an admin waits now.
    const full = (await SseClient.open(url, { authorization: `Bearer ${tokens.admin}` }, '127.0.0.11')) as Refusal;
    expect(full.status).toBe(503);
    expect(JSON.parse(full.body)).toMatchObject({ code: 'UNAVAILABLE', error: expect.stringMatching(/32 cluster streams are open/) });
  });

  it('ends every stream when the server closes, so closing does not wait for clients', async () => {
    const cluster = new FakeCluster();
    const client = await connect(await serve(cluster));
    await client.next((event) => event.event === 'status', 2000);
    const started = Date.now();
    await server?.close();
    server = undefined;
    await client.ended;
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('answers other methods with 405', async () => {
    const url = await serve(new FakeCluster());
    const response = await fetch(url, { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toContain('GET');
  });
});
