/**
 * The public entry (SPEC §1): one port, `/api/v1/users` and `/api/v1/users/...` to the users
 * instances, `/api/v1/rides` and `/api/v1/rides/...` to the rides instances, and nothing else: an
 * instance's own endpoints (`db/clear`, `_count`) are reached on its own address only, and any
 * other path is the gateway's own 404. Proxying is @fastify/http-proxy (on @fastify/reply-from and
 * undici keep-alive pools); choosing an instance is ours (UpstreamGroup), because undici's
 * BalancedPool fails the request that meets a dead instance instead of moving on. The gateway's
 * own routes (`/health`, `/ready`, `/metrics`) add nothing to any service's `_count`.
 */
import httpProxy from '@fastify/http-proxy';
import { createHttpApp, listen, type HttpHandle } from '../../shared/http/app.ts';
import type { ObservabilitySettings } from '../../shared/http/observability.ts';
import type { Logger } from '../../shared/logger.ts';
import { proxyWithFailover } from './failover-proxy.ts';
import { instanceHealth, upstreamReadiness } from './upstream-readiness.ts';
import { UpstreamGroup } from './upstream-group.ts';

/** How long a connection to an instance may take before the next instance is tried. */
const CONNECT_TIMEOUT_MS = 2500;

export interface GatewayOptions {
  /** 0 picks a free port; the handle's `url` tells which. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Base URLs of the users instances, e.g. `["http://127.0.0.1:8081"]`. */
  usersUpstreams: string[];
  /** Base URLs of the rides instances. */
  ridesUpstreams: string[];
  /** Upper bound for an instance's answer (settings.ts: GATEWAY_UPSTREAM_TIMEOUT_MS). */
  timeoutMs: number;
  /** How long a refused instance is tried last. Default 2000 ms. */
  coolDownMs?: number;
  /**
   * Default true: only /api/v1/users… and /api/v1/rides… are forwarded. False is the 2020
   * compatibility mode (RIDESHARE_AUTH=off), in which every other path goes to the rides
   * instances, as the original load balancer did, so the original graders can clear through it.
   */
  publicApiOnly?: boolean;
  /** How long closing keeps answering while draining (config SHUTDOWN_DRAIN_MS). Default 0. */
  drainMs?: number;
  /**
   * How often every instance's /health and /ready are checked; one whose /health does not answer
   * within it is left out until it does, one not ready is tried last until it is (config
   * UPSTREAM_CHECK_MS; across hosts a host may fall silent, and come back before it can serve). 0 or unset: off.
   */
  healthCheckMs?: number;
  /** Access log and metrics (config ACCESS_LOG, METRICS); both on unless given. */
  observability?: ObservabilitySettings;
  /** Where the gateway logs (a pino logger, its level set by the caller). */
  logger: Logger;
}

export async function startGateway(options: GatewayOptions): Promise<HttpHandle> {
  const { logger } = options;
  const intervalMs = options.healthCheckMs ?? 0;
  const healthCheck = intervalMs > 0 ? { healthCheck: { intervalMs, probe: (origin: string) => instanceHealth(origin, intervalMs) } } : {};
  const users = new UpstreamGroup({ name: 'users', upstreams: options.usersUpstreams, coolDownMs: options.coolDownMs, ...healthCheck });
  const rides = new UpstreamGroup({ name: 'rides', upstreams: options.ridesUpstreams, coolDownMs: options.coolDownMs, ...healthCheck });
  // Bodies are held as bytes, not streamed: a request refused by one instance can then be sent
  // whole to the next. Bodies here are small JSON documents. GET /health is the gateway's own.
  const app = createHttpApp({ name: 'gateway', ...(options.observability ? { observability: options.observability } : {}), logger, body: 'raw', readiness: () => upstreamReadiness([users, rides]) });

  // The public API only: /api/v1/users… and /api/v1/rides…. Each instance's own endpoints
  // (db/clear, _count) answer on its own address, never through the public edge (docs/security.md).
  const routes =
    options.publicApiOnly === false
      ? ([
          ['/api/v1/users', users],
          ['/', rides],
        ] as const)
      : ([
          ['/api/v1/users', users],
          ['/api/v1/rides', rides],
        ] as const);
  for (const [prefix, group] of routes) {
    await app.register(httpProxy, {
      // The instance is chosen per attempt in proxyWithFailover; http-proxy only checks the path
      // against this getUpstream, and insists on one when upstream is ''.
      upstream: '',
      prefix,
      rewritePrefix: prefix,
      proxyPayloads: false,
      disableRequestLogging: true,
      // Without it reply-from keeps its keep-alive sockets open after close.
      destroyAgent: true,
      // Idle connections expire before an instance's drain ends (src/shared/http/drain.ts). A
      // connection is made in well under a millisecond to an instance that is there, but a
      // starved gateway on a loaded machine can see its own timer fire first: past CONNECT_TIMEOUT_MS
      // the host is taken for silent (crashed, cut off) and the next instance is tried.
      undici: { connections: 128, pipelining: 1, connectTimeout: CONNECT_TIMEOUT_MS, keepAliveMaxTimeout: 1000 },
      replyOptions: { getUpstream: () => group.origins[0] ?? '' },
      handler: (request, reply, dest) => proxyWithFailover(request, reply, dest, { group, timeoutMs: options.timeoutMs }),
    });
  }
  return listen(app, { port: options.port, host: options.host, drainMs: options.drainMs }, async () => {
    users.close();
    rides.close();
  });
}
