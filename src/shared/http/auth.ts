/**
 * Bearer-token authorization for an HTTP server: each route needs `open`, `service` or `admin`
 * access; the admin token opens everything. A missing or unknown token is a 401, a token of a role
 * that may not do this a 403, both as the usual JSON error. Tokens are compared in constant time
 * (digests of equal length), so timing tells nothing about how much of a guess was right.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Role, Tokens } from '../auth/tokens.ts';
import { RideShareError } from '../errors.ts';
import { sendError } from './errors.ts';

export type Access = 'open' | Role;

/** RIDESHARE_AUTH with the tokens; when off, every request is treated as admin. */
export type AuthSetting = { enabled: true; tokens: Tokens } | { enabled: false };

export type AuthOptions = AuthSetting & {
  /** The access a route needs, by method and route template (e.g. `POST /api/v1/db/read`). */
  accessOf(method: string, route: string | undefined): Access;
};

const roles = new WeakMap<FastifyRequest, Role>();

function digest(text: string): Buffer {
  // The one-shot form: a Hash object per request cost more than the rest of the check.
  return hash('sha256', text, 'buffer');
}

/** The role a presented token belongs to, if any. */
function roleOfToken(presented: string, known: { role: Role; digest: Buffer }[]): Role | undefined {
  const candidate = digest(presented);
  let found: Role | undefined;
  // Every known token is compared, whichever matches, so the time spent does not depend on it.
  for (const { role, digest: expected } of known) if (timingSafeEqual(candidate, expected)) found ??= role;
  return found;
}

export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  if (!options.enabled) {
    app.addHook('onRequest', async (request) => {
      roles.set(request, 'admin');
    });
    return;
  }
  // The admin token first: should both be set to the same value, it counts as admin.
  const { tokens } = options;
  const known = (['admin', 'service'] as const).map((role) => ({ role, digest: digest(tokens[role]) }));
  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization;
    const presented = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const role = presented ? roleOfToken(presented, known) : undefined;
    if (role) roles.set(request, role);
    const needed = options.accessOf(request.method, request.routeOptions.url);
    if (needed === 'open') return;
    if (!role) {
      void reply.header('www-authenticate', 'Bearer');
      sendError(reply, new RideShareError('UNAUTHENTICATED', presented ? 'the bearer token is not valid' : 'a bearer token is required (Authorization: Bearer <token>)'));
      return reply;
    }
    if (needed === 'admin' && role !== 'admin') {
      sendError(reply, new RideShareError('FORBIDDEN', 'this needs the admin role'));
      return reply;
    }
    return undefined;
  });
}

/** The role the request's token proved (admin for everyone when authorization is off). */
export function roleOf(request: FastifyRequest): Role | undefined {
  return roles.get(request);
}
