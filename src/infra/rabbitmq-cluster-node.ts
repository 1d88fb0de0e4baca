/**
 * One RabbitMQ node of a cluster spread over hosts, from Debian's rabbitmq-server package: node
 * `rabbit@<host>`, the standard ports (5672, 25672, epmd's 4369: one host, one node), and a
 * folder of its own for everything the node reads or writes.
 *
 * What differs from the private single node (rabbitmq.ts), and why:
 * - a clean environment (`env -i`): Debian's /etc/rabbitmq/rabbitmq-env.conf pins
 *   rabbit@localhost and 127.0.0.1, and anything RABBITMQ_* or ERL_* a parent carries would
 *   leak in, so the node gets its own, empty RABBITMQ_CONF_ENV_FILE and only the variables
 *   listed here;
 * - a HOME of its own holding the cluster's shared `.erlang.cookie` (0400: Erlang refuses a
 *   cookie others may read), which is what lets the nodes (and rabbitmqctl) talk;
 * - classic_config peer discovery naming every node, so the nodes cluster on their first start;
 * - `cluster_partition_handling = pause_minority`: a node cut off from the majority stops
 *   serving instead of going on alone (two sides would otherwise each accept writes);
 * - a short `net_ticktime` (10 s; Erlang's 60 s means a minute before a lost peer is noticed);
 * - a TCP user timeout on its AMQP connections and its links to the other nodes, so a peer cut off
 *   one way (still heard, never hearing) is given up as one cut off both ways is (tcp-user-timeout.ts);
 * - `+S 1:1` and no scheduler busy-waiting: one scheduler is enough, and three nodes on a small
 *   machine must not spin its cores;
 * - its streams' data beside its database folder, not inside it, so that a node back with its
 *   disk lost still boots as the new node it is and joins the others (stream-data-dir.ts).
 * As for the private node: a user, a password and a vhost of the cluster's own, never guest, and
 * a 16 MiB Raft write-ahead log (privateNodeSettings in rabbitmq.ts); but its log at info, rotated.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BadRequestError } from '../shared/errors.ts';
import { BIN, PRIVATE_USER, PRIVATE_VHOST, privateNodeSettings } from './rabbitmq.ts';
import { prepareStreamDataDir } from './stream-data-dir.ts';
import { amqpListenUserTimeout, checkTcpUserTimeout, DEFAULT_TCP_USER_TIMEOUT_MS, distributionUserTimeout } from './tcp-user-timeout.ts';

export const CLUSTER_AMQP_PORT = 5672;
export const DEFAULT_NET_TICKTIME_SECONDS = 10;
/** The tools the node and its scripts call (erl, epmd, sed…); nothing else from the parent. */
const CLEAN_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const HOST_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface RabbitClusterNodeOptions {
  /** This node's folder: configuration, HOME (the cookie), database, logs. */
  dir: string;
  /** The host this node runs on; it is named rabbit@<host>. */
  host: string;
  /** Every host of the cluster, this one included. */
  hosts: readonly string[];
  /** The cluster's shared Erlang cookie. */
  cookie: string;
  /** The password of the cluster's user (`rideshare`). */
  password: string;
  /** Erlang's net_ticktime: a peer silent for about this long is taken for gone. Default 10. */
  netTicktimeSeconds?: number;
  /** How long data a link sent may stay unacknowledged before the node gives the link up (tcp-user-timeout.ts). Default 8000. */
  tcpUserTimeoutMs?: number;
}

export interface ClusterNodeLaunch {
  /** argv to run on the node's host (it starts with `env -i`). */
  argv: string[];
  /** The node's Erlang name. */
  node: string;
  /** The node's own log, for an error that says why it did not start. */
  logFile: string;
  /** argv prefix for a CLI tool (rabbitmqctl, rabbitmq-diagnostics) against this node, or another node of the cluster, run on this node's host. */
  cli(tool: string, node?: string): string[];
}

export function rabbitNodeName(host: string): string {
  return `rabbit@${host}`;
}

/** `amqp://rideshare:<password>@<host>:5672/rideshare`, the password URL-encoded. A secret: log it through redactUrl. */
export function clusterNodeUrl(host: string, password: string): string {
  return `amqp://${PRIVATE_USER}:${encodeURIComponent(password)}@${host}:${CLUSTER_AMQP_PORT}/${PRIVATE_VHOST}`;
}

function checkOptions(options: RabbitClusterNodeOptions): number {
  for (const host of options.hosts) {
    if (!HOST_NAME.test(host)) throw new BadRequestError(`'${host}' is not a host name a RabbitMQ node can carry (lower-case letters, digits, -)`);
  }
  if (!options.hosts.includes(options.host)) throw new BadRequestError(`host '${options.host}' is not one of the cluster's hosts (${options.hosts.join(', ')})`);
  if (!/^[A-Za-z0-9]{16,255}$/.test(options.cookie)) throw new BadRequestError('the Erlang cookie must be 16 to 255 letters and digits');
  const ticktime = options.netTicktimeSeconds ?? DEFAULT_NET_TICKTIME_SECONDS;
  if (!Number.isInteger(ticktime) || ticktime < 1 || ticktime > 600) throw new BadRequestError(`net_ticktime must be a whole number of seconds from 1 to 600, not ${ticktime}`);
  return ticktime;
}

/** What the node and its tools run with: nothing from the parent, the cluster's cookie in HOME. */
function cliEnvironment(dir: string): string[] {
  return [`PATH=${CLEAN_PATH}`, `HOME=${path.join(path.resolve(dir), 'home')}`, 'LANG=C.UTF-8', `RABBITMQ_CONF_ENV_FILE=${path.join(path.resolve(dir), 'rabbitmq-env.conf')}`];
}

/**
 * argv prefix for a CLI tool against `node` (or another node of the cluster), run on the host of
 * the node whose folder is `dir`: the cookie in that folder is the cluster's, so the tools reach
 * every node of it from there.
 */
export function clusterNodeCli(dir: string, node: string): (tool: string, other?: string) => string[] {
  const base = cliEnvironment(dir);
  return (tool, other = node) => ['env', '-i', ...base, path.join(BIN, tool), '-n', other];
}

/** Writes the node's files into its folder and says how to run it; the folder's database is kept, so a restarted node rejoins. */
export async function prepareRabbitClusterNode(options: RabbitClusterNodeOptions): Promise<ClusterNodeLaunch> {
  const ticktime = checkOptions(options);
  const dir = path.resolve(options.dir);
  const home = path.join(dir, 'home');
  for (const sub of ['home', 'mnesia', 'log']) await mkdir(path.join(dir, sub), { recursive: true, mode: 0o700 });
  const cookie = path.join(home, '.erlang.cookie');
  // Written afresh each time: a 0400 file cannot be overwritten in place.
  await chmod(cookie, 0o600).catch(() => undefined);
  await writeFile(cookie, options.cookie, { mode: 0o400 });
  await chmod(cookie, 0o400);
  await writeFile(path.join(dir, 'rabbitmq-env.conf'), '');
  await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
  // A peer cut off one way keeps ticking to this node: the user timeout ends the link anyway (tcp-user-timeout.ts).
  const userTimeout = checkTcpUserTimeout(options.tcpUserTimeoutMs ?? DEFAULT_TCP_USER_TIMEOUT_MS);
  const kernel = [`{net_ticktime, ${ticktime}}`, ...distributionUserTimeout(userTimeout)];
  await writeFile(path.join(dir, 'advanced.config'), `[{kernel, [${kernel.join(', ')}]}, {rabbit, [${amqpListenUserTimeout(userTimeout)}]}].\n`);
  const config = path.join(dir, 'rabbitmq.conf');
  await writeFile(
    config,
    [
      `listeners.tcp.default = ${CLUSTER_AMQP_PORT}`,
      'cluster_formation.peer_discovery_backend = classic_config',
      ...options.hosts.map((host, index) => `cluster_formation.classic_config.nodes.${index + 1} = ${rabbitNodeName(host)}`),
      'cluster_partition_handling = pause_minority',
      // The user and vhost are made with the database by whichever node starts it.
      ...privateNodeSettings(options.password).filter((line) => !line.startsWith('log.file.level')),
      // What a node of a cluster says at info (peers lost and found, partitions, pauses, rejoins)
      // is what an operator reads after a host's trouble; kept to 5 files of 10 MiB.
      'log.file.level = info',
      'log.file.rotation.size = 10485760',
      'log.file.rotation.count = 5',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  await chmod(config, 0o600);
  const node = rabbitNodeName(options.host);
  const streamDir = await prepareStreamDataDir(dir, node);
  const base = cliEnvironment(dir);
  const env = [
    ...base,
    `RABBITMQ_NODENAME=${node}`,
    `RABBITMQ_MNESIA_BASE=${path.join(dir, 'mnesia')}`,
    `RABBITMQ_STREAM_DIR=${streamDir}`,
    `RABBITMQ_LOG_BASE=${path.join(dir, 'log')}`,
    `RABBITMQ_PID_FILE=${path.join(dir, 'rabbit.pid')}`,
    `RABBITMQ_ENABLED_PLUGINS_FILE=${path.join(dir, 'enabled_plugins')}`,
    `RABBITMQ_CONFIG_FILE=${config}`,
    `RABBITMQ_ADVANCED_CONFIG_FILE=${path.join(dir, 'advanced.config')}`,
    'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none',
  ];
  return {
    // rabbitmq-server stays a shell whose SIGTERM trap stops the node (rabbitmqctl stop can hang).
    argv: ['env', '-i', ...env, path.join(BIN, 'rabbitmq-server')],
    node,
    logFile: path.join(dir, 'log', `${node}.log`),
    cli: clusterNodeCli(dir, node),
  };
}
