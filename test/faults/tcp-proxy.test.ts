/**
 * The link-fault proxy on its own, against an echo server: a fault test that blames the service
 * for a slow or cut link must first be sure the proxy does exactly what it was told, and finds
 * the link of the process it was pointed at.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../src/shared/timeout.ts';
import { connectionPorts, signal } from '../../harness/faults/proc.ts';
import { TcpProxy } from '../../harness/faults/tcp-proxy.ts';
import { staysTrue, until } from '../../harness/replicas.ts';

/** Echoes every chunk back, prefixed with nothing: what comes back is what went through twice. */
function echoServer(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined); // the cut test resets it on purpose
    socket.pipe(socket);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

class Client {
  readonly received: { at: number; text: string }[] = [];
  closed: string | undefined;
  readonly socket: net.Socket;

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.on('data', (chunk: Buffer) => this.received.push({ at: Date.now(), text: chunk.toString() }));
    this.socket.on('error', (error: NodeJS.ErrnoException) => (this.closed = error.code ?? error.message));
    this.socket.on('close', () => (this.closed ??= 'closed'));
  }

  async connected(): Promise<void> {
    if (!this.socket.connecting) return;
    await new Promise((resolve) => this.socket.once('connect', resolve));
  }

  text(): string {
    return this.received.map((chunk) => chunk.text).join('');
  }
}

describe('the link-fault TCP proxy', () => {
  let echo: net.Server;
  let proxy: TcpProxy;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    echo = await echoServer();
    proxy = new TcpProxy({ targetPort: (echo.address() as net.AddressInfo).port });
    await proxy.start();
  });
  afterAll(async () => {
    for (const child of children) if (child.pid) signal(child.pid, 'SIGKILL');
    await proxy?.stop();
    await new Promise((resolve) => echo?.close(resolve));
  });

  it('forwards both ways and names each link by its client port', async () => {
    const client = new Client(proxy.port);
    await client.connected();
    client.socket.write('hello');
    await until(() => client.text() === 'hello' || undefined, 2000, 'the echo');
    const link = proxy.list().find((info) => info.clientPort === client.socket.localPort);
    expect(link).toBeDefined();
    expect(link?.bytes).toEqual({ 'to-server': 5, 'to-client': 5 });
    client.socket.destroy();
  });

  it('finds the links of another process from its pid', async () => {
    const script = `const s = require('net').connect(${proxy.port}, '127.0.0.1', () => s.write('x')); s.on('data', () => {}); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    children.push(child);
    const ports = await until(
      () => {
        const found = connectionPorts(child.pid as number, proxy.port);
        return found.length > 0 ? found : undefined;
      },
      5000,
      'the child to connect',
    );
    expect(ports).toHaveLength(1);
    expect(proxy.list().map((info) => info.clientPort)).toContain(ports[0]);
    expect(connectionPorts(process.pid, proxy.port)).not.toContain(ports[0]);
    signal(child.pid as number, 'SIGKILL');
  });

  it('delays one direction and keeps the order of what it delays', async () => {
    const client = new Client(proxy.port);
    await client.connected();
    expect(proxy.set([client.socket.localPort as number], ['to-client'], { mode: 'delay', delayMs: 300 })).toBe(1);
    const sentAt = Date.now();
    for (const word of ['a', 'b', 'c', 'd']) {
      client.socket.write(word);
      await sleep(20);
    }
    await until(() => client.text() === 'abcd' || undefined, 3000, 'the delayed echo');
    expect((client.received[0]?.at ?? 0) - sentAt).toBeGreaterThanOrEqual(290);
    proxy.heal([client.socket.localPort as number]);
    client.received.length = 0;
    const fastAt = Date.now();
    client.socket.write('e');
    await until(() => client.text() === 'e' || undefined, 2000, 'the healed echo');
    expect((client.received[0]?.at ?? 0) - fastAt).toBeLessThan(200);
    client.socket.destroy();
  });

  it('pauses one direction until healed, losing nothing', async () => {
    const client = new Client(proxy.port);
    await client.connected();
    proxy.set([client.socket.localPort as number], ['to-server'], { mode: 'pause' });
    client.socket.write('held');
    await staysTrue(() => client.text() === '', 400, 'nothing through the paused direction');
    proxy.heal([client.socket.localPort as number]);
    await until(() => client.text() === 'held' || undefined, 2000, 'the held bytes');
    client.socket.destroy();
  });

  it('cuts a link with a reset the client sees at once, and leaves the others alone', async () => {
    const victim = new Client(proxy.port);
    const bystander = new Client(proxy.port);
    await Promise.all([victim.connected(), bystander.connected()]);
    expect(proxy.cut([victim.socket.localPort as number])).toBe(1);
    await until(() => victim.closed, 2000, 'the cut to be seen');
    expect(victim.closed).toBe('ECONNRESET');
    bystander.socket.write('still here');
    await until(() => bystander.text() === 'still here' || undefined, 2000, 'the other link');
    bystander.socket.destroy();
  });

  it('pauses both ways a link the predicate picks as it is accepted, until healed, and leaves open links alone', async () => {
    const bystander = new Client(proxy.port);
    await bystander.connected();
    const held: number[] = [];
    proxy.pauseNewLinks((clientPort) => {
      held.push(clientPort);
      return true;
    });
    const client = new Client(proxy.port);
    await client.connected();
    await until(() => (held.includes(client.socket.localPort as number) ? true : undefined), 2000, 'the link to be accepted');
    proxy.pauseNewLinks(undefined);
    expect(proxy.list().find((info) => info.clientPort === client.socket.localPort)?.modes).toEqual({ 'to-server': 'pause', 'to-client': 'pause' });
    client.socket.write('held');
    await staysTrue(() => client.text() === '', 400, 'nothing through the link paused from its start');
    bystander.socket.write('free');
    await until(() => bystander.text() === 'free' || undefined, 2000, 'the link opened before');
    proxy.heal([client.socket.localPort as number]);
    await until(() => client.text() === 'held' || undefined, 2000, 'the held bytes');
    client.socket.destroy();
    bystander.socket.destroy();
  });
});
