import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRabbitMq, ensureZooKeeper, type ServerHandle } from '../../src/infra/servers.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { isAlive } from '../../src/shared/processes.ts';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';

const logger = createLogger('servers-test', process.env.LOG_LEVEL ?? 'error');
const slow = process.env.RIDESHARE_SLOW_TESTS === '1';

/** Sends a greeting and returns whatever comes back before the peer closes or time runs out. */
function ask(port: number, hello: string, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(hello, 'latin1'));
    const done = () => {
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (hello.startsWith('AMQP')) done();
    });
    socket.on('error', done);
    socket.on('close', () => {
      clearTimeout(timer);
      done();
    });
  });
}

function portOf(address: string): number {
  return Number(/:(\d+)(\/[^/]*)?$/.exec(address)?.[1]);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let dataDir: string;
let zk2181Answers = false;
let rabbit5672Answers = false;
const cleanup: ServerHandle[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'rideshare-infra-'));
  zk2181Answers = (await ask(2181, 'srvr', 1000)) !== '';
  rabbit5672Answers = (await ask(5672, 'AMQP\x00\x00\x09\x01', 1000)) !== '';
});

afterAll(async () => {
  for (const server of cleanup) await server.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('ensureZooKeeper', () => {
  it('starts a private server when nothing answers on 2181, and stop() kills it', async (ctx) => {
    if (zk2181Answers) ctx.skip('a ZooKeeper answers on 2181 here');
    const zk = await ensureZooKeeper({ dataDir, logger, tickMs: 200 });
    cleanup.push(zk);
    expect(zk.startedHere).toBe(true);
    expect(zk.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(zk.pid).toBeGreaterThan(0);
    const srvr = await ask(portOf(zk.address), 'srvr');
    expect(srvr).toContain('Mode: standalone');
    const config = await readFile(path.join(dataDir, 'servers/zookeeper/zoo.cfg'), 'utf8');
    expect(config).toContain('minSessionTimeout=400');
    await zk.stop();
    expect(isAlive(zk.pid!)).toBe(false);
    expect(await ask(portOf(zk.address), 'srvr', 500)).toBe('');
  });

  it('kill() ends a private server at once (a forced stop), leaving no pid file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rideshare-infra-kill-'));
    const zk = await ensureZooKeeper({ dataDir: dir, logger, tickMs: 200, alwaysPrivate: true });
    cleanup.push(zk);
    zk.kill();
    await until(() => (isAlive(zk.pid!) ? undefined : true), 5000, 'the server to die');
    await expect(readFile(path.join(dir, 'servers/zookeeper/pid.json'), 'utf8')).rejects.toThrow(/ENOENT/);
    await rm(dir, { recursive: true, force: true });
  });

  it('uses a configured server that answers and does not stop it', async () => {
    const { zkConnect } = testServers();
    const zk = await ensureZooKeeper({ configuredConnect: zkConnect, dataDir, logger });
    expect(zk).toMatchObject({ address: zkConnect, startedHere: false });
    expect(zk.pid).toBeUndefined();
    await zk.stop();
    expect(await ask(portOf(zkConnect), 'srvr')).toContain('Mode:');
  });

  it('fails clearly, within the timeout, when the configured address does not answer', async () => {
    const port = await freePort();
    const began = Date.now();
    await expect(ensureZooKeeper({ configuredConnect: `127.0.0.1:${port}`, dataDir, logger, timeoutMs: 1500 })).rejects.toThrow(
      `ZooKeeper at the configured address 127.0.0.1:${port} did not answer within 1500 ms`,
    );
    expect(Date.now() - began).toBeLessThan(4000);
  });

  it('refuses a data directory whose private server belongs to a live process', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rideshare-infra-owned-'));
    const zk = await ensureZooKeeper({ dataDir: dir, logger, tickMs: 200, alwaysPrivate: true });
    cleanup.push(zk);
    await expect(ensureZooKeeper({ dataDir: dir, logger, alwaysPrivate: true })).rejects.toThrow(/belongs to running process/);
    await zk.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('kills a private server orphaned by a crashed owner and starts afresh', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rideshare-infra-orphan-'));
    const first = await ensureZooKeeper({ dataDir: dir, logger, tickMs: 200, alwaysPrivate: true });
    cleanup.push(first);
    // Pretend the owner died: a start time that no live process has.
    const pidFile = path.join(dir, 'servers/zookeeper/pid.json');
    const record = JSON.parse(await readFile(pidFile, 'utf8')) as Record<string, unknown>;
    await writeFile(pidFile, JSON.stringify({ ...record, ownerStart: 'gone' }));
    const second = await ensureZooKeeper({ dataDir: dir, logger, tickMs: 200, alwaysPrivate: true });
    cleanup.push(second);
    expect(isAlive(first.pid!)).toBe(false);
    expect(second.pid).not.toBe(first.pid);
    expect(await ask(portOf(second.address), 'srvr')).toContain('Mode:');
    await second.stop();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('ensureRabbitMq', () => {
  it('uses the broker on 5672 when it answers (startedHere false, stop is a no-op)', async (ctx) => {
    if (!rabbit5672Answers) ctx.skip('no broker answers on 5672 here');
    const rabbit = await ensureRabbitMq({ dataDir, logger });
    expect(rabbit).toMatchObject({ address: 'amqp://guest:guest@127.0.0.1:5672', startedHere: false });
    await rabbit.stop();
    expect(await ask(5672, 'AMQP\x00\x00\x09\x01')).not.toBe('');
  });

  it('fails clearly, without leaking the password, when the configured broker does not answer', async () => {
    const port = await freePort();
    await expect(ensureRabbitMq({ configuredUrl: `amqp://bob:s3cret@127.0.0.1:${port}`, dataDir, logger, timeoutMs: 1000 })).rejects.toThrow(
      new RegExp(`RabbitMQ at the configured address amqp://bob:\\*\\*\\*@127\\.0\\.0\\.1:${port} did not answer`),
    );
  });

  it('uses a configured list of cluster nodes when any one answers, and names every node when none does (passwords hidden)', async () => {
    const dead = await freePort();
    const live = testServers().amqpUrl;
    const rabbit = await ensureRabbitMq({ configuredUrl: `amqp://bob:s3cret@127.0.0.1:${dead}/v,${live}`, dataDir, logger, timeoutMs: 5000 });
    expect(rabbit.startedHere).toBe(false);
    expect(rabbit.address).toBe(`amqp://bob:s3cret@127.0.0.1:${dead}/v,${live}`);
    const other = await freePort();
    const failure = await ensureRabbitMq({ configuredUrl: `amqp://bob:s3cret@127.0.0.1:${dead}/v,amqp://eve:t0ps3cret@127.0.0.1:${other}/v`, dataDir, logger, timeoutMs: 1000 }).catch(
      (error: Error) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toContain(`amqp://bob:***@127.0.0.1:${dead}/v,amqp://eve:***@127.0.0.1:${other}/v did not answer`);
    expect((failure as Error).message).not.toMatch(/s3cret|t0ps3cret/);
  });

  it.skipIf(!slow)('starts and stops a private RabbitMQ node (slow, ~10 s: runs only with RIDESHARE_SLOW_TESTS=1)', async () => {
    const rabbit = await ensureRabbitMq({ dataDir, logger, alwaysPrivate: true });
    cleanup.push(rabbit);
    expect(rabbit.startedHere).toBe(true);
    // Its own user and vhost, never guest (test/security/private-servers.test.ts checks the broker itself).
    expect(rabbit.address).toMatch(/^amqp:\/\/rideshare:[^@]+@127\.0\.0\.1:\d+\/rideshare$/);
    expect(portOf(rabbit.address)).not.toBe(5672);
    expect(await ask(portOf(rabbit.address), 'AMQP\x00\x00\x09\x01')).not.toBe('');
    await rabbit.stop();
    expect(isAlive(rabbit.pid!)).toBe(false);
    expect(await ask(portOf(rabbit.address), 'AMQP\x00\x00\x09\x01', 500)).toBe('');
  });
});
