/**
 * What a process this system starts may see of its parent's environment: an allow-list, never
 * the whole of it. An ADMIN_TOKEN exported for `npm start` must reach the orchestrators and no
 * one else (not the public gateway, not a worker), and whatever else the operator's shell holds
 * (cloud credentials, other projects' secrets) reaches none of them.
 */

/**
 * What every child gets: how to find programs and a home, locale and time zone, the libraries the
 * loader preloads, Node's own settings (NODE_OPTIONS, NODE_ENV, NODE_V8_COVERAGE…), the log level,
 * and the cluster's name, which tells an operator (and `ps e`, and the tests) which system a
 * process belongs to.
 */
export const COMMON_VARIABLES = ['PATH', 'HOME', 'TMPDIR', 'TZ', 'LANG', 'LC_ALL', 'LOG_LEVEL', 'RIDESHARE_CLUSTER', 'LD_PRELOAD'] as const;
/**
 * Node's own settings, and those of libfaketime: a library preloaded into `npm start`
 * (LD_PRELOAD, passed on above like any loader setting, never a secret) must reach its children
 * with the settings it reads, or a clock faked for a host would be faked for `npm start` alone.
 */
const PASSED_PREFIXES = ['NODE_', 'FAKETIME'] as const;

/**
 * The environment of a child: the common variables and `allowed` as this process has them (unset
 * ones stay unset), then `given`, which wins.
 */
export function childEnvironment(allowed: readonly string[], given: Record<string, string> = {}, source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const names = new Set<string>([...COMMON_VARIABLES, ...allowed]);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined) continue;
    if (names.has(name) || PASSED_PREFIXES.some((prefix) => name.startsWith(prefix))) env[name] = value;
  }
  return { ...env, ...given };
}
