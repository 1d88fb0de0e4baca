/**
 * A path with its allowed methods. Every other method on that path answers 405 with an `Allow`
 * header, so "known path, wrong method" (405) is never confused with "unknown path" (404).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { RideShareError } from '../errors.ts';

export type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
export type MethodHandlers = Partial<Record<'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH', Handler>>;

export function defineResource(app: FastifyInstance, url: string, handlers: MethodHandlers): void {
  const allowed = Object.keys(handlers) as HTTPMethods[];
  for (const method of allowed) {
    const handler = handlers[method as keyof MethodHandlers];
    if (handler) app.route({ method, url, handler });
  }
  // fastify answers HEAD itself wherever GET is defined.
  const implicit = new Set<string>(allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed);
  const others = app.supportedMethods.filter((method) => !implicit.has(method)) as HTTPMethods[];
  const allowHeader = [...implicit].join(', ');
  app.route({
    method: others,
    url,
    handler: async (request, reply) => {
      void reply.header('allow', allowHeader);
      throw new RideShareError('METHOD_NOT_ALLOWED', `${request.method} is not allowed here (allowed: ${allowHeader})`);
    },
  });
}
