/**
 * Which of `npm start`'s settings each kind of process it starts reads (src/shared/config.ts),
 * and so may see in its environment (src/shared/child-environment.ts adds PATH, HOME, NODE_*,
 * LOG_LEVEL and the cluster's name). The tokens go only where they are used: SERVICE_TOKEN to
 * the orchestrators and the services, ADMIN_TOKEN to the orchestrators alone, none to the public
 * gateway. Addresses npm start decides (the servers it found or started, every instance's URL,
 * each one's port) it gives each process itself.
 */

/** What every HTTP server reads: where it binds, how it drains, what it logs and measures. */
const HTTP_SERVER = ['BIND_HOST', 'SHUTDOWN_DRAIN_MS', 'ACCESS_LOG', 'METRICS', 'RIDESHARE_AUTH'] as const;

/** The users and rides services call the orchestrators with the service token (file or variable). */
const DATABASE_CLIENT = ['DATA_DIR', 'HTTP_TIMEOUT_MS', 'SERVICE_TOKEN'] as const;

export const ORCHESTRATOR_SETTINGS: readonly string[] = [
  ...HTTP_SERVER,
  'DATA_DIR',
  'ZK_AUTH',
  'WORKER_RUNTIME',
  'WORKER_IMAGE',
  'SCALE_WINDOW_SECONDS',
  'READS_PER_SLAVE',
  'MAX_SLAVES',
  'RPC_TIMEOUT_MS',
  'ZK_SESSION_TIMEOUT_MS',
  'READ_WAIT_MS',
  'READ_HEDGE_MS',
  'DURABILITY',
  'SNAPSHOT_TIMEOUT_MS',
  'SERVICE_TOKEN',
  'ADMIN_TOKEN',
  'CLUSTER_KEY',
  'AGENT_HOST',
  // Across hosts npm start sets it itself, per host (RideShareSystem.ts); alone, an operator's choice passes.
  'ORCHESTRATOR_SUPERVISES',
  // The Docker client of WORKER_RUNTIME=docker finds the engine through these.
  'DOCKER_HOST',
  'DOCKER_TLS_VERIFY',
  'DOCKER_CERT_PATH',
];

export const USERS_SETTINGS: readonly string[] = [...HTTP_SERVER, ...DATABASE_CLIENT];

export const RIDES_SETTINGS: readonly string[] = [...HTTP_SERVER, ...DATABASE_CLIENT, 'GATEWAY_PORT', 'GATEWAY_URL', 'RIDES_PUBLIC_HOST', 'RIDESHARE_NOW', 'AREAS_FILE'];

/** The public edge: no token, no DATA_DIR, nothing of the database service. */
export const GATEWAY_SETTINGS: readonly string[] = [...HTTP_SERVER, 'UPSTREAM_CHECK_MS'];
