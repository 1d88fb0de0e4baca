/**
 * The secrets every host of a deployment across hosts must share: the two tokens, the cluster
 * key, the ZooKeeper digest, the RabbitMQ password and the Erlang cookie. On one machine the first
 * process that needs a secret makes it; across hosts that would give each host its own, so a host
 * never makes one: they are made once (`npm run secrets`, makeHostSecrets) and copied to the other
 * hosts as the folder DATA_DIR/secrets/, or given as settings (NAME or NAME_FILE).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { secretFile } from '../shared/auth/tokens.ts';
import { ConfigError, type Config } from '../shared/config.ts';

interface HostSecret {
  /** Its file in DATA_DIR/secrets/. */
  file: string;
  /** The setting that gives it instead of the file. */
  setting: 'SERVICE_TOKEN' | 'ADMIN_TOKEN' | 'CLUSTER_KEY' | 'ZK_AUTH' | 'RABBITMQ_PASSWORD' | 'ERLANG_COOKIE';
  make: () => string;
}

const base64url = () => randomBytes(32).toString('base64url');

export const HOST_SECRETS: readonly HostSecret[] = [
  { file: 'service.token', setting: 'SERVICE_TOKEN', make: base64url },
  { file: 'admin.token', setting: 'ADMIN_TOKEN', make: base64url },
  { file: 'cluster.key', setting: 'CLUSTER_KEY', make: base64url },
  { file: 'zookeeper.digest', setting: 'ZK_AUTH', make: base64url },
  { file: 'rabbitmq.password', setting: 'RABBITMQ_PASSWORD', make: base64url },
  // Erlang takes letters and digits only.
  { file: 'erlang.cookie', setting: 'ERLANG_COOKIE', make: () => randomBytes(24).toString('hex') },
];

function fileValue(dataDir: string, name: string): string | undefined {
  try {
    const value = fs.readFileSync(secretFile(dataDir, name), 'utf8').trim();
    return value === '' ? undefined : value;
  } catch {
    return undefined;
  }
}

/** Refuses to start a host that would have to make a secret of its own. */
export function checkHostSecrets(config: Config): void {
  const missing = HOST_SECRETS.filter((secret) => config[secret.setting] === undefined && fileValue(config.DATA_DIR, secret.file) === undefined);
  if (missing.length === 0) return;
  const files = missing.map((secret) => `${secret.file} (or ${secret.setting})`).join(', ');
  throw new ConfigError(
    `invalid settings: across hosts every host uses the same secrets, and ${path.join(config.DATA_DIR, 'secrets')} lacks ${files}: ` +
      'make them once with `npm run secrets` on one host and copy its DATA_DIR/secrets/ to every host (docs/hosts.md)',
  );
}

/** The cluster's RabbitMQ password (checkHostSecrets first). */
export function rabbitPasswordOf(config: Config): string {
  return config.RABBITMQ_PASSWORD ?? (fileValue(config.DATA_DIR, 'rabbitmq.password') as string);
}

/** The RabbitMQ nodes' shared Erlang cookie (checkHostSecrets first). */
export function erlangCookieOf(config: Config): string {
  return config.ERLANG_COOKIE ?? (fileValue(config.DATA_DIR, 'erlang.cookie') as string);
}

/** Makes the secrets DATA_DIR/secrets/ lacks (0600 files, the folder 0700); says which it made and which were there. */
export function makeHostSecrets(dataDir: string): { made: string[]; kept: string[] } {
  const made: string[] = [];
  const kept: string[] = [];
  fs.mkdirSync(path.join(dataDir, 'secrets'), { recursive: true, mode: 0o700 });
  for (const secret of HOST_SECRETS) {
    const file = secretFile(dataDir, secret.file);
    try {
      fs.writeFileSync(file, secret.make(), { flag: 'wx', mode: 0o600 });
      made.push(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      kept.push(file);
    }
  }
  return { made, kept };
}
