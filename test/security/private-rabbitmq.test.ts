/**
 * A private RabbitMQ (the one `npm start` and the tests start when no broker answers on 5672) has
 * a user, a password and a vhost of its own: guest does not exist on it, the generated password
 * works on its vhost only, and no log line carries it. One broker for the whole file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAmqp } from '../../src/dbaas/transport/amqp.ts';
import { assertTopology } from '../../src/dbaas/transport/topology.ts';
import { clusterNames } from '../../src/dbaas/protocol/names.ts';
import { PRIVATE_USER, PRIVATE_VHOST, privatePassword, rabbitMqKind } from '../../src/infra/rabbitmq.ts';
import { ensureRabbitMq, type ServerHandle } from '../../src/infra/servers.ts';
import { createLogger } from '../../src/shared/logger.ts';

const logLines: string[] = [];
const logger = createLogger(
  'test-servers',
  'info',
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  }),
);

/** How the broker answers a connection with these credentials: 'ok' or amqplib's refusal. */
async function attempt(url: string): Promise<string> {
  try {
    const connection = await amqp.connect(url, { timeout: 5000 });
    await connection.close();
    return 'ok';
  } catch (error) {
    return String((error as Error).message);
  }
}

describe('a private RabbitMQ prepared in a directory whose database was made with guest', () => {
  it('removes that database once, keeps its own afterwards, and keeps the password to its owner', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-rabbit-prepare-'));
    try {
      // An earlier version's node: a database (made with guest) and no record of its credentials.
      fs.mkdirSync(path.join(dir, 'mnesia', 'rideshare-old@localhost'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'mnesia', 'rideshare-old@localhost', 'rabbit_user.DCD'), 'guest');
      const before = logLines.length;
      const launch = await rabbitMqKind.prepare(dir, [1, 2], logger);
      expect(fs.readdirSync(path.join(dir, 'mnesia'))).toEqual([]);
      expect(logLines.slice(before).join('')).toContain('made with other credentials');

      const password = privatePassword(dir);
      expect(launch.address).toBe(`amqp://${PRIVATE_USER}:${encodeURIComponent(password)}@127.0.0.1:1/${PRIVATE_VHOST}`);
      for (const file of [path.join(dir, 'secrets', 'rabbitmq.password'), path.join(dir, 'rabbitmq.conf')]) {
        expect(fs.statSync(file).mode & 0o777, file).toBe(0o600);
      }
      const config = fs.readFileSync(path.join(dir, 'rabbitmq.conf'), 'utf8');
      expect(config).toContain(`default_user = ${PRIVATE_USER}\n`);
      expect(config).toContain(`default_vhost = ${PRIVATE_VHOST}\n`);
      expect(config).toContain('default_permissions.configure = .*\n');

      // Its own database (made with these credentials) stays.
      fs.mkdirSync(path.join(dir, 'mnesia', 'mine'));
      await rabbitMqKind.prepare(dir, [1, 2], logger);
      expect(fs.readdirSync(path.join(dir, 'mnesia'))).toEqual(['mine']);
      expect(privatePassword(dir)).toBe(password);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a private RabbitMQ started by the project', () => {
  let dataDir: string;
  let rabbit: ServerHandle | undefined;
  let port: number;
  let password: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-rabbit-private-'));
    rabbit = await ensureRabbitMq({ dataDir, logger, alwaysPrivate: true });
    const url = new URL(rabbit.address);
    port = Number(url.port);
    password = decodeURIComponent(url.password);
  });

  afterAll(async () => {
    await rabbit?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('hands out its own user, password and vhost, never guest', () => {
    expect(rabbit?.startedHere).toBe(true);
    expect(rabbit?.address).toMatch(new RegExp(`^amqp://${PRIVATE_USER}:[^@]+@127\\.0\\.0\\.1:\\d+/${PRIVATE_VHOST}$`));
    expect(password).toBe(privatePassword(path.join(dataDir, 'servers', 'rabbitmq')));
    expect(password.length).toBeGreaterThanOrEqual(32);
  });

  it('refuses guest/guest, on any vhost, and a wrong password', async () => {
    expect(await attempt(`amqp://guest:guest@127.0.0.1:${port}`)).toMatch(/ACCESS.REFUSED|403/);
    expect(await attempt(`amqp://guest:guest@127.0.0.1:${port}/${PRIVATE_VHOST}`)).toMatch(/ACCESS.REFUSED|403/);
    expect(await attempt(`amqp://${PRIVATE_USER}:not-the-password@127.0.0.1:${port}/${PRIVATE_VHOST}`)).toMatch(/ACCESS.REFUSED|403/);
  });

  it('accepts its credentials on its vhost, where the cluster\u2019s topology works', async () => {
    const connection = await connectAmqp(rabbit!.address);
    try {
      const channel = await connection.createConfirmChannel();
      const names = clusterNames('rabbit-private');
      await assertTopology(connection, names);
      channel.sendToQueue(names.readQ, Buffer.from('hello'));
      // A quorum queue holds a message once Raft committed it, which the confirm says.
      await channel.waitForConfirms();
      const message = await channel.get(names.readQ, { noAck: true });
      expect(message === false ? 'no message' : message.content.toString()).toBe('hello');
      for (const queue of names.allQueues()) await channel.deleteQueue(queue);
      await channel.close();
    } finally {
      await connection.close();
    }
    // The default vhost is not its: the user has no rights there (and guest does not exist).
    expect(await attempt(`amqp://${PRIVATE_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}`)).not.toBe('ok');
  });

  it('never writes the password to a log line, its own or the broker\u2019s', () => {
    expect(logLines.some((line) => line.includes('started a private server'))).toBe(true);
    expect(logLines.filter((line) => line.includes(password))).toEqual([]);
    const serverDir = path.join(dataDir, 'servers', 'rabbitmq');
    const logs = [path.join(serverDir, 'stdout.log'), ...fs.readdirSync(path.join(serverDir, 'log')).map((name) => path.join(serverDir, 'log', name))];
    for (const file of logs) {
      if (fs.statSync(file).isFile()) expect(fs.readFileSync(file, 'utf8').includes(password), file).toBe(false);
    }
  });
});
