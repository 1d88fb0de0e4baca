/**
 * Bearer-token authorization for an HTTP server: each route needs `open`, `service` or `admin`
 * access; the admin token opens everything. A missing or unknown token is a 401, a token of a role
 * that may not do this a 403, both as the usual JSON error. Tokens are compared in constant time,
 * so timing tells nothing about how much of a guess was right (at most whether it had the length).
 */
import { timingSafeEqual } from 'node:crypto';
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

interface KnownToken {
  role: Role;
  bytes: Buffer;
}

/**
 * The role a presented token belongs to, if any. Bytes, not digests: a SHA-256 per request cost
 * more than the rest of the check (OpenSSL looks the algorithm up on every hash).
 */
function roleOfToken(presented: string, known: KnownToken[]): Role | undefined {
  const candidate = Buffer.from(presented, 'utf8');
  let found: Role | undefined;
  // Every known token is compared, whichever matches, so the time spent does not depend on it;
  // a guess of another length is compared with itself so that it takes the same time too.
  for (const { role, bytes } of known) {
    const sameLength = candidate.length === bytes.length;
    if (timingSafeEqual(candidate, sameLength ? bytes : candidate) && sameLength) found ??= role;
  }
  return found;
}

/** What the token check says of one request: the role its token proved, and the refusal to answer with, if any. */
export interface AuthCheck {
  role: Role | undefined;
  refusal: RideShareError | undefined;
}

/** Checks a request's `Authorization` header against the access `needed`; shared by the fastify hook and the front door (front-door.ts). */
export type Authorizer = (authorization: string | undefined, needed: Access) => AuthCheck;

const ADMIN_EVERYWHERE: AuthCheck = { role: 'admin', refusal: undefined };

export function authorizer(setting: AuthSetting): Authorizer {
  if (!setting.enabled) return () => ADMIN_EVERYWHERE;
  // The admin token first: should both be set to the same value, it counts as admin.
  const { tokens } = setting;
  const known: KnownToken[] = (['admin', 'service'] as const).map((role) => ({ role, bytes: Buffer.from(tokens[role], 'utf8') }));
  return (header, needed) => {
    const presented = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const role = presented ? roleOfToken(presented, known) : undefined;
    if (needed === 'open' || (role && (needed !== 'admin' || role === 'admin'))) return { role, refusal: undefined };
    if (!role) return { role, refusal: new RideShareError('UNAUTHENTICATED', presented ? 'the bearer token is not valid' : 'a bearer token is required (Authorization: Bearer <token>)') };
    return { role, refusal: new RideShareError('FORBIDDEN', 'this needs the admin role') };
  };
}

/** The header a 401 carries, naming the scheme to use. */
export const AUTHENTICATE_HEADER = ['www-authenticate', 'Bearer'] as const;

export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  const check = authorizer(options);
  // A callback hook (every request passes here): a refusal answers at once and does not go on.
  app.addHook('onRequest', (request, reply, done) => {
    const { role, refusal } = check(request.headers.authorization, options.accessOf(request.method, request.routeOptions.url));
    if (role) roles.set(request, role);
    if (refusal === undefined) {
      done();
      return;
    }
    if (refusal.code === 'UNAUTHENTICATED') void reply.header(...AUTHENTICATE_HEADER);
    sendError(reply, refusal);
  });
}

/** The role the request's token proved (admin for everyone when authorization is off). */
export function roleOf(request: FastifyRequest): Role | undefined {
  return roles.get(request);
}
