import { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerClusterStream } from '../../src/dbaas/orchestrator/console/stream.ts';
import { createHttpApp, listen, type HttpHandle } from '../../src/shared/http/app.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { SseClient, type Refusal } from './sse-client.ts';

/** A status source the test changes by hand, counting how often it is read. */
class FakeCluster extends EventEmitter<{ event: [] }> {
  reads = 0;
  failing: string | undefined;
  state = { workers: 2, failovers: 0 };

  read = async () => {
    this.reads += 1;
    if (this.failing) throw new Error(this.failing);
    return { at: new Date().toISOString(), ...this.state };
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('GET /api/v1/cluster/stream (server-sent events)', () => {
  let app: FastifyInstance | undefined;
  let server: HttpHandle | undefined;
  const clients: SseClient[] = [];

  async function serve(cluster: FakeCluster, options: { pollMs?: number; heartbeatMs?: number; maxStreams?: number } = {}): Promise<string> {
    app = createHttpApp({ name: 'stream-test', logger: createLogger('stream-test', 'warn') });
    registerClusterStream(app, { status: cluster.read, changes: cluster, ...options });
    server = await listen(app, { port: 0 });
    return `${server.url}/api/v1/cluster/stream`;
  }

  async function connect(url: string): Promise<SseClient> {
    const client = await SseClient.open(url);
    if (!(client instanceof SseClient)) throw new Error(`stream refused: ${client.status} ${client.body}`);
    clients.push(client);
    return client;
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

    // Polled about ten times meanwhile, but nothing changed (the timestamp aside): nothing sent.
    await sleep(400);
    expect(cluster.reads).toBeGreaterThan(5);
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
    const cluster = new FakeCluster();
    const url = await serve(cluster, { pollMs: 30 });
    const one = await connect(url);
    const two = await connect(url);
    await one.next((event) => event.event === 'status', 2000);
    await two.next((event) => event.event === 'status', 2000);
    const before = cluster.reads;
    await sleep(300);
    // One poller for both: about ten reads in 300 ms, not twenty.
    expect(cluster.reads - before).toBeLessThan(16);
    one.close();
    two.close();
    await sleep(150);
    const after = cluster.reads;
    await sleep(300);
    expect(cluster.reads).toBe(after);
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
    await sleep(300);
    expect(client.comments.filter((comment) => comment.startsWith('heartbeat')).length).toBeGreaterThanOrEqual(2);
  });

  it('bounds the number of open streams', async () => {
    const cluster = new FakeCluster();
    const url = await serve(cluster, { maxStreams: 2 });
    await connect(url);
    await connect(url);
    const refused = await SseClient.open(url);
    expect(refused).not.toBeInstanceOf(SseClient);
    const { status, body } = refused as Refusal;
    expect(status).toBe(503);
    expect(JSON.parse(body)).toMatchObject({ code: 'UNAVAILABLE', error: expect.stringMatching(/2 cluster streams are open/) });
    // A stream that ends frees its place.
    clients[0]?.close();
    await sleep(100);
    await connect(url);
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
