/**
 * `GET /health` (the process is alive and its event loop answers) and `GET /ready` (it can serve
 * now), on every HTTP server of the system. Readiness is the server's own question: the
 * orchestrator needs a master and a ready slave, a service its orchestrator, the gateway a live
 * upstream per route. Both answer JSON: 200 when fine, 503 with the reason otherwise.
 */
import type { FastifyInstance } from 'fastify';
import { withTimeout } from '../timeout.ts';
import { defineResource } from './resource.ts';

export const HEALTH_PATH = '/health';
export const READY_PATH = '/ready';

export interface Readiness {
  ready: boolean;
  /** One line an operator understands: what is missing, or what makes it ready. */
  reason: string;
  /** Whatever else helps (the checks made, the upstreams, the master's pid). */
  details?: Record<string, unknown>;
}

export type ReadinessCheck = () => Promise<Readiness>;

/** A check that takes longer than this is itself a reason not to be ready. */
export const READY_CHECK_TIMEOUT_MS = 2000;

export function installHealth(app: FastifyInstance, readiness: ReadinessCheck): void {
  // Resources, not bare routes: another method on them is a 405 naming GET, as on every other path.
  defineResource(app, HEALTH_PATH, { GET: async () => ({ status: 'ok' }) });
  defineResource(app, READY_PATH, {
    GET: async (_request, reply) => {
      const outcome = await withDeadline(readiness());
      return reply.code(outcome.ready ? 200 : 503).send({ status: outcome.ready ? 'ready' : 'not ready', reason: outcome.reason, ...outcome.details });
    },
  });
}

function withDeadline(check: Promise<Readiness>): Promise<Readiness> {
  return withTimeout(check, READY_CHECK_TIMEOUT_MS, 'TIMEOUT', 'the readiness check did not finish').catch((error: unknown) => ({
    ready: false,
    reason: error instanceof Error ? error.message : String(error),
  }));
}
