/**
 * RabbitMQ: how to recognise a broker on a port, and how to run a private node from Debian's
 * rabbitmq-server package next to (never instead of) the system broker.
 *
 * A private node has a user, a password and a vhost of its own and no guest: rabbitmq.conf's
 * `default_user`, `default_pass`, `default_vhost` and `default_permissions`, with the password
 * made once and kept in <dir>/secrets/rabbitmq.password (0600). RabbitMQ applies those defaults
 * only when it creates its database, so a database made with other credentials (guest, by an
 * earlier version) is wiped first: the node is private to this directory, and its queues only
 * ever held the cluster's requests in flight. A broker found on the machine (5672) or configured
 * (AMQP_URL) is used as it is.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { secretFromFile } from '../shared/auth/tokens.ts';
import type { Logger } from '../shared/logger.ts';
import type { Endpoint, PrivateLaunch, ServerKind } from './server-kind.ts';
import { RideShareError } from '../shared/errors.ts';

/**
 * The scripts under /usr/lib, not the /usr/sbin wrappers: as root those `su` to the rabbitmq
 * user, whose Erlang cookie does not match a private node.
 */
export const BIN = '/usr/lib/rabbitmq/bin';
const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');
/** The private node's user and vhost; the password is the directory's own. */
export const PRIVATE_USER = 'rideshare';
export const PRIVATE_VHOST = 'rideshare';
/** The Raft write-ahead log's size before it rolls over; it is held in memory until then. */
const RAFT_WAL_MAX_SIZE_BYTES = 16 * 1024 * 1024;
/** Which credentials the node's database was made with (a hash, never the password). */
const CREDENTIALS_MARKER = 'database-credentials';

/** A broker replies with a Connection.Start method frame, or with its own header if it dislikes ours. */
function isAmqpReply(reply: Buffer): boolean {
  return reply[0] === 1 || reply.subarray(0, 4).toString('latin1') === 'AMQP';
}

/** One URL, or the nodes of a cluster separated by commas: any one of them answering is enough. */
function parseAddress(address: string): Endpoint[] {
  return address
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(parseOne);
}

function parseOne(url: string): Endpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RideShareError('CONFIG_INVALID', `the RabbitMQ address is not a URL (expected amqp://user:pass@host:port/vhost)`);
  }
  const tls = parsed.protocol === 'amqps:';
  if (!tls && parsed.protocol !== 'amqp:') {
    throw new RideShareError('CONFIG_INVALID', `the RabbitMQ address must start with amqp:// or amqps://, not ${parsed.protocol}//`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = parsed.port ? Number(parsed.port) : tls ? 5671 : 5672;
  return { host, port, connectOnly: tls };
}

/**
 * The node name is derived from the directory so that a restart finds its own mnesia data, while
 * two data directories on one host (which share epmd) never clash.
 */
function nodeName(dir: string): string {
  const digest = createHash('sha256').update(path.resolve(dir)).digest('hex').slice(0, 10);
  return `rideshare-${digest}@localhost`;
}

/** The private node's password, made once (0600, in <dir>/secrets/). */
export function privatePassword(dir: string): string {
  return secretFromFile(dir, 'rabbitmq.password');
}

/**
 * The node's database takes the default user only when it is created: one made with other
 * credentials (no marker: guest, by an earlier version; another marker: the password file was
 * replaced) is removed, so that the node creates it again with ours.
 */
async function ensureDatabaseCredentials(dir: string, password: string, logger: Logger): Promise<void> {
  const fingerprint = createHash('sha256').update(`${PRIVATE_USER}\0${PRIVATE_VHOST}\0${password}`).digest('hex');
  const marker = path.join(dir, CREDENTIALS_MARKER);
  if ((await readFile(marker, 'utf8').catch(() => '')).trim() === fingerprint) return;
  const mnesia = path.join(dir, 'mnesia');
  const entries = await readdir(mnesia).catch(() => []);
  if (entries.length > 0) {
    logger.warn({ dir: mnesia }, 'the private RabbitMQ database was made with other credentials (guest, by an earlier version); removing it so the broker makes it again with its own user and vhost');
    for (const entry of entries) await rm(path.join(mnesia, entry), { recursive: true, force: true });
  }
  await writeFile(marker, `${fingerprint}\n`);
}

async function prepare(dir: string, ports: number[], logger: Logger): Promise<PrivateLaunch> {
  const [amqpPort, distPort] = ports;
  if (amqpPort === undefined || distPort === undefined) throw new RideShareError('INVARIANT', 'a private RabbitMQ needs two ports');
  const node = nodeName(dir);
  const home = path.join(dir, 'home');
  for (const sub of ['mnesia', 'log', 'home']) await mkdir(path.join(dir, sub), { recursive: true });
  const password = privatePassword(dir);
  await ensureDatabaseCredentials(dir, password, logger);
  await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
  await writeFile(path.join(dir, 'rabbitmq-env.conf'), '');
  const config = path.join(dir, 'rabbitmq.conf');
  await writeFile(config, [`listeners.tcp.1 = 127.0.0.1:${amqpPort}`, ...privateNodeSettings(password), ''].join('\n'), { mode: 0o600 });
  // It holds the password; a file written by an earlier version may have been readable by all.
  await chmod(config, 0o600);
  // Settings inherited from a parent that talks to another node must not leak into this one.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RABBITMQ_')));
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
    address: privateAddress(amqpPort, password),
  };
}

/** `amqp://rideshare:<password>@127.0.0.1:<port>/rideshare`: the password URL-encoded. */
function privateAddress(port: number, password: string): string {
  return `amqp://${PRIVATE_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${PRIVATE_VHOST}`;
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
  foundAddress: (port) => `amqp://guest:guest@127.0.0.1:${port}`,
  missingBinaries: () => (existsSync(path.join(BIN, 'rabbitmq-server')) ? [] : [path.join(BIN, 'rabbitmq-server')]),
  prepare,
};

/**
 * The rabbitmq.conf lines every node the project starts shares, alone or in a cluster: the
 * cluster's own user and vhost, made with the database instead of guest (the node never has a
 * guest user), quiet logs, a disk limit small disks can meet (the default, 50% of RAM here,
 * would block publishers at once), and a 16 MiB Raft write-ahead log: the cluster's queues are
 * quorum queues (src/dbaas/transport/topology.ts), and the 512 MiB default is held in memory
 * before it rolls over.
 */
export function privateNodeSettings(password: string): string[] {
  return [
    `raft.wal_max_size_bytes = ${RAFT_WAL_MAX_SIZE_BYTES}`,
    `default_vhost = ${PRIVATE_VHOST}`,
    `default_user = ${PRIVATE_USER}`,
    `default_pass = ${password}`,
    'default_permissions.configure = .*',
    'default_permissions.read = .*',
    'default_permissions.write = .*',
    'log.console = false',
    'log.file.level = warning',
    'disk_free_limit.absolute = 50MB',
  ];
}
