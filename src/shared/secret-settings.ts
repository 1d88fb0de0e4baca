/**
 * Secret settings read from files: for each of them, `<NAME>_FILE` names a file whose content
 * (without its trailing newline) is the value, so a secret can reach a process as a mounted file
 * (compose's `secrets:`, a read-only folder) instead of an environment variable that `docker
 * inspect` and /proc/<pid>/environ show. Setting both NAME and NAME_FILE is a mistake, refused.
 */
import fs from 'node:fs';

/** The settings that may come from a file: the tokens, the cluster key and the servers' credentials (across hosts also the RabbitMQ password and the Erlang cookie). */
export const SECRET_SETTINGS = ['SERVICE_TOKEN', 'ADMIN_TOKEN', 'CLUSTER_KEY', 'ZK_AUTH', 'AMQP_URL', 'RABBITMQ_PASSWORD', 'ERLANG_COOKIE'] as const;

/** At most this much is read from a secret file: every secret setting is far shorter. */
const MAX_SECRET_BYTES = 4096;

/**
 * The environment with each `<NAME>_FILE` replaced by NAME and the file's content. Returns the
 * problems instead of the environment when a file cannot be read or both forms are set.
 */
export function withSecretFiles(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; problems: string[] } {
  const resolved: NodeJS.ProcessEnv = { ...env };
  const problems: string[] = [];
  for (const name of SECRET_SETTINGS) {
    const file = env[`${name}_FILE`]?.trim();
    delete resolved[`${name}_FILE`];
    if (!file) continue;
    if (env[name]?.trim()) {
      problems.push(`${name} and ${name}_FILE are both set: keep one`);
      continue;
    }
    const read = readSecretFile(file);
    if ('value' in read) resolved[name] = read.value;
    else problems.push(`${name}_FILE: cannot read ${file} (${read.problem})`);
  }
  return { env: resolved, problems };
}

/** The file's content without its trailing newline, or why it cannot be the value (an errno code, or its size). */
function readSecretFile(file: string): { value: string } | { problem: string } {
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_SECRET_BYTES) return { problem: `${size} bytes; a secret file holds the value alone` };
    return { value: fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '') };
  } catch (error) {
    return { problem: (error as NodeJS.ErrnoException).code ?? (error as Error).message };
  }
}
