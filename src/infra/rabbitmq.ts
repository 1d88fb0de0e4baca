/**
 * RabbitMQ: how to recognise a broker on a port, and how to run a private node from Debian's
 * rabbitmq-server package next to (never instead of) the system broker.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Endpoint, PrivateLaunch, ServerKind } from './server-kind.ts';

/**
 * The scripts under /usr/lib, not the /usr/sbin wrappers: as root those `su` to the rabbitmq
 * user, whose Erlang cookie does not match a private node.
 */
const BIN = '/usr/lib/rabbitmq/bin';
const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

/** A broker replies with a Connection.Start method frame, or with its own header if it dislikes ours. */
function isAmqpReply(reply: Buffer): boolean {
  return reply[0] === 1 || reply.subarray(0, 4).toString('latin1') === 'AMQP';
}

function parseAddress(url: string): Endpoint[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`the RabbitMQ address is not a URL (expected amqp://user:pass@host:port/vhost)`);
  }
  const tls = parsed.protocol === 'amqps:';
  if (!tls && parsed.protocol !== 'amqp:') {
    throw new Error(`the RabbitMQ address must start with amqp:// or amqps://, not ${parsed.protocol}//`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = parsed.port ? Number(parsed.port) : tls ? 5671 : 5672;
  return [{ host, port, connectOnly: tls }];
}

/**
 * The node name is derived from the directory so that a restart finds its own mnesia data, while
 * two data directories on one host (which share epmd) never clash.
 */
function nodeName(dir: string): string {
  const digest = createHash('sha256').update(path.resolve(dir)).digest('hex').slice(0, 10);
  return `rideshare-${digest}@localhost`;
}

async function prepare(dir: string, ports: number[]): Promise<PrivateLaunch> {
  const [amqpPort, distPort] = ports;
  if (amqpPort === undefined || distPort === undefined) throw new Error('a private RabbitMQ needs two ports');
  const node = nodeName(dir);
  const home = path.join(dir, 'home');
  for (const sub of ['mnesia', 'log', 'home']) await mkdir(path.join(dir, sub), { recursive: true });
  await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
  await writeFile(path.join(dir, 'rabbitmq-env.conf'), '');
  await writeFile(
    path.join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.1 = 127.0.0.1:${amqpPort}`,
      'loopback_users = none',
      'log.console = false',
      'log.file.level = warning',
      // CI disks are small; the default (50% of RAM here) would block publishers at once.
      'disk_free_limit.absolute = 50MB',
      '',
    ].join('\n'),
  );
  // Settings inherited from a parent that talks to another node must not leak into this one.
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('RABBITMQ_')),
  );
  Object.assign(env, {
    HOME: home, // its own .erlang.cookie; /var/lib/rabbitmq stays untouched
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_PID_FILE: path.join(dir, 'rabbit.pid'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    // Otherwise Erlang distribution listens on every interface.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  });
  return {
    // Stays a shell whose SIGTERM trap stops the node gracefully (about 2.5 s).
    command: path.join(BIN, 'rabbitmq-server'),
    args: [],
    env,
    extraLogs: [path.join(dir, 'log', `${node}.log`)],
  };
}

export const rabbitMqKind: ServerKind = {
  name: 'RabbitMQ',
  debPackage: 'rabbitmq-server',
  dirName: 'rabbitmq',
  defaultPort: 5672,
  portsNeeded: 2,
  // Boot takes about 6 s on an idle 2-core machine; tests load it heavily.
  startTimeoutMs: 90_000,
  stopGraceMs: 30_000,
  hello: PROTOCOL_HEADER,
  enough: (reply) => reply.length > 0,
  answers: isAmqpReply,
  ready: isAmqpReply,
  parseAddress,
  formatAddress: (port) => `amqp://guest:guest@127.0.0.1:${port}`,
  missingBinaries: () => (existsSync(path.join(BIN, 'rabbitmq-server')) ? [] : [path.join(BIN, 'rabbitmq-server')]),
  prepare,
};
