/**
 * No cross-site writes: a browser lets any page POST to any address (a form, or `fetch` with a
 * `text/plain` body, needs no preflight), and bodies here are JSON whatever their Content-Type,
 * so a page on another site could clear an instance or crash a worker through a visitor's
 * browser. Every method but GET, HEAD and OPTIONS is refused with a 403 when the browser says the
 * request comes from elsewhere: an `Origin` whose host is not this request's `Host`, or
 * `Sec-Fetch-Site: cross-site`. Requests that carry neither (curl, the services' own calls) are
 * not a browser's and pass, as do a page's calls to its own origin (the operator console).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { RideShareError } from '../errors.ts';
import { abbreviate, sendError } from './errors.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What a browser says about where a request comes from; a proxy that has checked it drops it. */
export const BROWSER_ORIGIN_HEADERS = ['origin', 'sec-fetch-site', 'sec-fetch-mode', 'sec-fetch-dest', 'sec-fetch-user'] as const;

export function changesState(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

/** The origin's host as `Host` would name it (default port left out), or undefined for `null` and junk. */
function hostOfOrigin(origin: string, host: string | undefined): { origin: string; host: string } | undefined {
  try {
    const parsed = new URL(origin);
    // The Host header read with the origin's scheme, so `http://a:80` and `Host: a` are one host.
    return { origin: parsed.host, host: host === undefined ? '' : new URL(`${parsed.protocol}//${host}`).host };
  } catch {
    return undefined;
  }
}

/** Why the request is another site's, or undefined when nothing says so. */
export function crossSiteReason(headers: IncomingHttpHeaders): string | undefined {
  if (headers['sec-fetch-site'] === 'cross-site') return 'a request from another site may not change anything here (Sec-Fetch-Site: cross-site)';
  const { origin } = headers;
  if (origin === undefined) return undefined;
  const hosts = hostOfOrigin(origin, headers.host);
  if (hosts !== undefined && hosts.origin === hosts.host) return undefined;
  return `a request from another origin may not change anything here (Origin: ${abbreviate(origin, 100)})`;
}

/** The 403 a request that would change something here gets when a browser says it comes from another site; shared by the fastify hook and the front door. */
export function crossSiteRefusal(method: string, headers: IncomingHttpHeaders): RideShareError | undefined {
  const reason = changesState(method) ? crossSiteReason(headers) : undefined;
  return reason === undefined ? undefined : new RideShareError('FORBIDDEN', reason);
}

export function installSameOriginWrites(app: FastifyInstance): void {
  // A callback hook ahead of authorization: a cross-site request is refused whatever it carries.
  app.addHook('onRequest', (request, reply, done) => {
    const refusal = crossSiteRefusal(request.method, request.headers);
    if (refusal === undefined) {
      done();
      return;
    }
    sendError(reply, refusal);
  });
}
