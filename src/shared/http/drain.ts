/**
 * Leaving without dropping a request. A server about to stop first drains for a moment: it keeps
 * answering, but every answer closes its connection and says `X-RideShare-Draining`, and
 * `/ready` turns 503. Callers (the gateway, the services' database client) then send new
 * requests elsewhere and keep no idle connection to it, so when it stops listening nobody is
 * caught with a request on a connection being closed.
 */
import type { FastifyInstance } from 'fastify';
import { sleep } from '../timeout.ts';

export const DRAINING_HEADER = 'x-rideshare-draining';

const draining = new WeakSet<FastifyInstance>();

export function installDrain(app: FastifyInstance): void {
  // A callback hook, not an async one: it runs on every answer, and a promise each was not free.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining.has(app)) void reply.header('connection', 'close').header(DRAINING_HEADER, '1');
    done(null, payload);
  });
}

export function isDraining(app: FastifyInstance): boolean {
  return draining.has(app);
}

/** Starts draining and resolves after `ms`; the caller then closes the server. */
export async function drain(app: FastifyInstance, ms: number): Promise<void> {
  draining.add(app);
  if (ms > 0) await sleep(ms);
}
