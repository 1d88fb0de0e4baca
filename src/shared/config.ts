/**
 * All settings in one typed object, parsed once at start-up from the environment. Modules receive
 * the parts they need and never read process.env themselves.
 */
import path from 'node:path';
import { z } from 'zod';
import { resolveToken, resolveTokens, secretFromFile, type Role, type Tokens } from './auth/tokens.ts';
import { RideShareError } from './errors.ts';
import { amqpUrlList } from './amqp-urls.ts';
import { redactUrl } from './redact.ts';
import { withSecretFiles } from './secret-settings.ts';

/** WORKER_IMAGE unset: the image `npm run images` builds (docker/build-images.sh). */
export const DEFAULT_WORKER_IMAGE = 'rideshare:latest';

const portNumber = z.number().int().min(1).max(65535);
const port = z.coerce.number().pipe(portNumber);
/** One port, or several separated by commas: `npm start` runs one instance on each. */
const ports = z
  .string()
  .regex(/^\s*\d+\s*(,\s*\d+\s*)*$/, 'a port or comma-separated ports')
  .transform((text) => text.split(',').map((item) => Number(item.trim())))
  .pipe(z.array(portNumber).min(1).max(8));
const positiveInt = z.coerce.number().int().min(1);
const onOff = z.enum(['on', 'off']).transform((value) => value === 'on');
const token = z
  .string()
  .regex(/^[\x21-\x7e]{16,256}$/, '16 to 256 printable characters, no spaces')
  .optional()
  .or(z.literal('').transform(() => undefined));
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

const schema = z.object({
  GATEWAY_PORT: port.default(8080),
  /** Two orchestrators by default: one supervises, the other stands by, so either can be restarted. */
  ORCHESTRATOR_PORT: ports.default([8000, 8001]),
  USERS_PORT: ports.default([8081]),
  RIDES_PORT: ports.default([8082]),
  /** Where workers keep their SQLite files and `npm start` keeps private servers' data. */
  DATA_DIR: z.string().default('.data'),
  /** RabbitMQ address, or several nodes of one cluster separated by commas; unset means "a local broker on 5672, else a private one". */
  AMQP_URL: optionalText,
  /** ZooKeeper address; unset means "a local server on 2181, else a private one". */
  ZK_CONNECT: optionalText,
  /**
   * The cluster's ZooKeeper digest credentials, `user:password`: only they may change the
   * cluster's znodes. Default: user `rideshare` and DATA_DIR/secrets/zookeeper.digest, made at the first start.
   */
  ZK_AUTH: z
    .string()
    .regex(/^[^:\s]+:\S{8,}$/, 'user:password (a user without ":", a password of at least 8 characters, no spaces)')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  RIDESHARE_CLUSTER: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,64}$/, 'letters, digits, _ and - only (it prefixes queue names and znodes)')
    .default('rideshare'),
  WORKER_RUNTIME: z.enum(['process', 'docker']).default('process'),
  /**
   * The host this orchestrator is the agent of, when workers are placed on several hosts through
   * ZooKeeper (docs/hosts.md). Unset: the supervising orchestrator runs every worker itself.
   */
  AGENT_HOST: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, '1-63 letters, digits, dots, dashes or underscores (a znode name)')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  /** The image workers run from when WORKER_RUNTIME=docker (built by `npm run images`). */
  WORKER_IMAGE: z.string().min(1).default(DEFAULT_WORKER_IMAGE),
  SCALE_WINDOW_SECONDS: positiveInt.default(120),
  READS_PER_SLAVE: positiveInt.default(20),
  MAX_SLAVES: positiveInt.max(64).default(8),
  /** Fixes the rides service's clock (`DD-MM-YYYY:SS-MM-HH`) for tests and replays. */
  RIDESHARE_NOW: optionalText,
  /** A CSV (`Area No,Area Name`) whose names the rides service shows beside area numbers. */
  AREAS_FILE: optionalText,
  /** How long `npm start` lets the orchestrator stop its workers before SIGKILL (it then stops them itself). */
  ORCHESTRATOR_STOP_GRACE_MS: positiveInt.default(15000),
  /** How long an orchestrator waits for a worker's answer before a 503. */
  RPC_TIMEOUT_MS: positiveInt.default(5000),
  /** How long a services' call to the orchestrator or the gateway may take. */
  HTTP_TIMEOUT_MS: positiveInt.default(8000),
  /**
   * ZooKeeper session timeout for workers. A frozen or dead worker is noticed by ZooKeeper after
   * about this long (the runtime notices a plain exit at once). 4 s tolerates GC pauses and
   * a loaded 2-core machine while keeping failover under the session timeout + 1 s.
   */
  ZK_SESSION_TIMEOUT_MS: positiveInt.default(4000),
  /** How long a read that asks for `minSeq` waits for a lagging slave. */
  READ_WAIT_MS: positiveInt.default(2000),
  /**
   * How long an orchestrator waits for a read's answer before it sends the same read once more, to
   * whichever replica takes it (0: never). A replica that dies or is cut off with reads in hand
   * keeps them until the broker notices its connection is gone (its heartbeat: 10-15 s), past the
   * read's deadline; reads change nothing, so a second copy is safe, and the first answer wins.
   */
  READ_HEDGE_MS: z.coerce.number().int().min(0).default(1000),
  /**
   * What a worker's commit survives before a write is acknowledged (docs/guarantees.md):
   * `process` (SQLite synchronous=NORMAL in WAL mode: any process crash, not a power loss of the
   * host) or `power` (synchronous=FULL: an fsync per commit, so also a power loss).
   */
  DURABILITY: z.enum(['process', 'power']).default('process'),
  /** How long a joining replica waits for the master's position and for a snapshot. */
  SNAPSHOT_TIMEOUT_MS: positiveInt.default(30_000),
  /**
   * A backup (`npm run backup`) that `npm start` installs before the first start of a cluster whose
   * DATA_DIR holds none yet, as `npm run restore` would; ignored once the DATA_DIR holds the cluster.
   */
  RESTORE_FROM: optionalText,
  /** Comma-separated base URLs of the orchestrators the services call, in order of preference (default: the one on ORCHESTRATOR_PORT). */
  ORCHESTRATOR_URL: optionalText,
  /**
   * How long a stopping HTTP server keeps answering while it tells callers to go elsewhere
   * (closing each connection after its answer), so a restart loses no request.
   */
  SHUTDOWN_DRAIN_MS: z.coerce.number().int().min(0).max(60_000).default(2000),
  GATEWAY_URL: optionalText,
  /** How the rides service names itself in the `Origin` header of its calls to the users service. */
  RIDES_PUBLIC_HOST: optionalText,
  /** Comma-separated base URLs of the users instances behind the gateway (default: the one on USERS_PORT). */
  USERS_UPSTREAMS: optionalText,
  /** Comma-separated base URLs of the rides instances behind the gateway (default: the one on RIDES_PORT). */
  RIDES_UPSTREAMS: optionalText,
  /**
   * How often the gateway checks every instance's /health, leaving out one that does not answer
   * within it until it does, and its /ready, trying one not ready after the others; 0: off. Default 0 on one machine, 1000 across hosts (RIDESHARE_HOST set).
   */
  UPSTREAM_CHECK_MS: z.coerce.number().int().min(0).max(60_000).optional(),
  /** The address every HTTP server binds: loopback by default; 0.0.0.0 inside containers. */
  /** Default 127.0.0.1; across hosts (RIDESHARE_HOST set) 0.0.0.0, so the other hosts reach this one. */
  BIND_HOST: optionalText,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** One info line per HTTP request on every server (with its X-Request-Id). */
  ACCESS_LOG: onOff.default(true),
  /** Prometheus metrics at GET /metrics on every HTTP server. */
  METRICS: onOff.default(true),
  /**
   * Bearer tokens between the services and the database service (docs/security.md). `off` only
   * to replay the original 2020 graders, which send none.
   */
  RIDESHARE_AUTH: onOff.default(true),
  /** The `service` role's token (db/read, db/write); default: DATA_DIR/secrets/service.token, made at the first start. */
  SERVICE_TOKEN: token,
  /** The `admin` role's token (everything); default: DATA_DIR/secrets/admin.token, made at the first start. */
  ADMIN_TOKEN: token,
  /** The key the cluster's messages on RabbitMQ are signed with; default: DATA_DIR/secrets/cluster.key. */
  CLUSTER_KEY: token,
  /**
   * Across hosts (docs/hosts.md): this host's name (also `npm start -- --host <name>`). Unset:
   * the whole system on this one machine, as always.
   */
  RIDESHARE_HOST: optionalText,
  /** Every host, in the order the placement reads them: `name` or `name=address`, comma-separated. */
  RIDESHARE_HOSTS: optionalText,
  /** Which hosts run the users and rides services (src/system/host-plan.ts): `seed` or `ha`. */
  RIDESHARE_PLACEMENT: z.enum(['seed', 'ha']).default('seed'),
  /**
   * `on`: the orchestrator supervises when no other does; `takeover`: only to carry on a running
   * cluster (never a new one, never from files); `off`: never, it only serves the database's API
   * (src/dbaas/supervisor/supervision-mode.ts). Across hosts `npm start` sets `off` on every host
   * but the database host (docs/hosts.md).
   */
  ORCHESTRATOR_SUPERVISES: z.enum(['on', 'off', 'takeover']).default('on'),
  /** Across hosts: the cluster's RabbitMQ password; default DATA_DIR/secrets/rabbitmq.password (`npm run secrets`). */
  RABBITMQ_PASSWORD: token,
  /** Across hosts: the RabbitMQ nodes' shared Erlang cookie; default DATA_DIR/secrets/erlang.cookie. */
  ERLANG_COOKIE: z
    .string()
    .regex(/^[A-Za-z0-9]{16,255}$/, '16 to 255 letters and digits')
    .optional()
    .or(z.literal('').transform(() => undefined)),
});

export type RawConfig = z.infer<typeof schema>;

/** Every setting's name, as the environment spells it (README's table lists each one). */
export const SETTING_NAMES = Object.keys(schema.shape) as ReadonlyArray<keyof RawConfig>;

type PortLists = 'ORCHESTRATOR_PORT' | 'USERS_PORT' | 'RIDES_PORT';

export interface Config extends Omit<RawConfig, PortLists | 'BIND_HOST' | 'UPSTREAM_CHECK_MS' | 'ORCHESTRATOR_URL' | 'GATEWAY_URL' | 'RIDES_PUBLIC_HOST' | 'USERS_UPSTREAMS' | 'RIDES_UPSTREAMS'> {
  /** The port this process listens on: the first of the list. */
  ORCHESTRATOR_PORT: number;
  USERS_PORT: number;
  RIDES_PORT: number;
  /** Every instance's port (`npm start` runs one on each). */
  ORCHESTRATOR_PORTS: number[];
  USERS_PORTS: number[];
  RIDES_PORTS: number[];
  DATA_DIR: string;
  BIND_HOST: string;
  UPSTREAM_CHECK_MS: number;
  /** The first of ORCHESTRATOR_URLS. */
  ORCHESTRATOR_URL: string;
  ORCHESTRATOR_URLS: string[];
  GATEWAY_URL: string;
  RIDES_PUBLIC_HOST: string;
  USERS_UPSTREAMS: string[];
  RIDES_UPSTREAMS: string[];
}

function urlList(value: string | undefined, fallback: string, name: string): string[] {
  const urls = (value ?? fallback)
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  for (const url of urls) {
    if (!URL.canParse(url)) throw new ConfigError(`invalid settings: ${name}: '${url}' is not a URL`);
  }
  if (urls.length === 0) throw new ConfigError(`invalid settings: ${name}: at least one URL is needed`);
  return urls;
}

/** One AMQP URL or several (the nodes of one cluster), comma-separated; the connect helper tries them in turn. */
function checkAmqpAddress(value: string): void {
  try {
    amqpUrlList(value);
  } catch (error) {
    throw new ConfigError(`invalid settings: AMQP_URL: ${(error as Error).message}`);
  }
}

export class ConfigError extends RideShareError {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // SERVICE_TOKEN_FILE, AMQP_URL_FILE…: a secret as a mounted file rather than in the environment.
  const secrets = withSecretFiles(env);
  if (secrets.problems.length > 0) throw new ConfigError(`invalid settings: ${secrets.problems.join('; ')}`);
  const parsed = schema.safeParse(secrets.env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid settings: ${problems.join('; ')}`);
  }
  const raw = parsed.data;
  const local = (list: number[]) => list.map((item) => `http://127.0.0.1:${item}`).join(',');
  if (raw.AMQP_URL !== undefined) checkAmqpAddress(raw.AMQP_URL);
  const orchestratorUrls = urlList(raw.ORCHESTRATOR_URL, local(raw.ORCHESTRATOR_PORT), 'ORCHESTRATOR_URL');
  return {
    ...raw,
    ORCHESTRATOR_PORT: raw.ORCHESTRATOR_PORT[0] as number,
    USERS_PORT: raw.USERS_PORT[0] as number,
    RIDES_PORT: raw.RIDES_PORT[0] as number,
    ORCHESTRATOR_PORTS: raw.ORCHESTRATOR_PORT,
    USERS_PORTS: raw.USERS_PORT,
    RIDES_PORTS: raw.RIDES_PORT,
    DATA_DIR: path.resolve(raw.DATA_DIR),
    BIND_HOST: raw.BIND_HOST ?? (raw.RIDESHARE_HOST === undefined ? '127.0.0.1' : '0.0.0.0'),
    UPSTREAM_CHECK_MS: raw.UPSTREAM_CHECK_MS ?? (raw.RIDESHARE_HOST === undefined ? 0 : 1000),
    ORCHESTRATOR_URL: orchestratorUrls[0] as string,
    ORCHESTRATOR_URLS: orchestratorUrls,
    GATEWAY_URL: raw.GATEWAY_URL ?? `http://127.0.0.1:${raw.GATEWAY_PORT}`,
    RIDES_PUBLIC_HOST: raw.RIDES_PUBLIC_HOST ?? `http://127.0.0.1:${raw.RIDES_PORT[0]}`,
    USERS_UPSTREAMS: urlList(raw.USERS_UPSTREAMS, local(raw.USERS_PORT), 'USERS_UPSTREAMS'),
    RIDES_UPSTREAMS: urlList(raw.RIDES_UPSTREAMS, local(raw.RIDES_PORT), 'RIDES_UPSTREAMS'),
  };
}

/** The settings as one log line; URLs lose their passwords. */
export function describeConfig(config: Config): Record<string, unknown> {
  const masked: Record<string, unknown> = { ...config };
  if (config.AMQP_URL) masked.AMQP_URL = redactUrl(config.AMQP_URL);
  if (config.ZK_AUTH) masked.ZK_AUTH = `${zkCredentialsFor(config).user}:[redacted]`;
  for (const key of ['SERVICE_TOKEN', 'ADMIN_TOKEN', 'CLUSTER_KEY', 'RABBITMQ_PASSWORD', 'ERLANG_COOKIE'] as const) if (config[key] !== undefined) masked[key] = '[redacted]';
  return masked;
}

function tokenSources(config: Config) {
  return { dataDir: config.DATA_DIR, fromEnvironment: { service: config.SERVICE_TOKEN, admin: config.ADMIN_TOKEN } };
}

/** The tokens every process of this DATA_DIR uses (src/shared/auth/tokens.ts). */
export function tokensFor(config: Config): Tokens {
  return resolveTokens(tokenSources(config));
}

/** The key every orchestrator and worker of the cluster signs and checks its messages with. */
export function clusterKeyFor(config: Config): string {
  return config.CLUSTER_KEY ?? secretFromFile(config.DATA_DIR, 'cluster.key');
}

/** The user of the generated ZooKeeper credentials (ZK_AUTH unset). */
export const DEFAULT_ZK_USER = 'rideshare';

/** The digest credentials every orchestrator and worker of the cluster signs in to ZooKeeper with. */
export function zkCredentialsFor(config: Config): { user: string; password: string } {
  if (config.ZK_AUTH) {
    const colon = config.ZK_AUTH.indexOf(':');
    return { user: config.ZK_AUTH.slice(0, colon), password: config.ZK_AUTH.slice(colon + 1) };
  }
  return { user: DEFAULT_ZK_USER, password: secretFromFile(config.DATA_DIR, 'zookeeper.digest') };
}

/** One role's token, for a process that needs no other (the services: `service`). */
export function tokenFor(config: Config, role: Role): string {
  return resolveToken(tokenSources(config), role);
}
