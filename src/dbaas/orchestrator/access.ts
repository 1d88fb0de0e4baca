/**
 * Who may call what on the orchestrator (docs/security.md): the database calls need the service
 * role, destructive and operational calls the admin role; what only describes the cluster stays
 * open, as `worker/list` and the health checks must for the specification's clients. A route's
 * role is not the end of it: `db/write` carries an operation, and one that empties a table is as
 * destructive as `db/clear`, so it needs what `db/clear` needs (writeAccess).
 */
import type { Access } from '../../shared/http/auth.ts';
import { touchesEveryRow, type Write } from '../protocol/queries.ts';
import { HEALTH_PATH, READY_PATH } from '../../shared/http/health.ts';
import { METRICS_PATH } from '../../shared/http/observability.ts';
import { CONSOLE_ASSETS_PATH, CONSOLE_PATH } from './console/pages.ts';
import { CLUSTER_STREAM_PATH } from './console/stream.ts';

type MethodAccess = Partial<Record<string, Access>>;

const ROUTES: Record<string, MethodAccess> = {
  '/api/v1/db/read': { POST: 'service' },
  '/api/v1/db/write': { POST: 'service' },
  '/api/v1/db/clear': { POST: 'admin' },
  '/api/v1/db/backup': { POST: 'admin' },
  '/api/v1/crash/master': { POST: 'admin' },
  '/api/v1/crash/slave': { POST: 'admin' },
  '/api/v1/scaling/slaves': { PUT: 'admin' },
  '/api/v1/scaling': { GET: 'open' },
  '/api/v1/worker/list': { GET: 'open' },
  '/api/v1/cluster': { GET: 'open' },
  [CLUSTER_STREAM_PATH]: { GET: 'open' },
  [HEALTH_PATH]: { GET: 'open' },
  [READY_PATH]: { GET: 'open' },
  [METRICS_PATH]: { GET: 'open' },
  // The page and its files hold no data; its actions call the admin routes above with a token.
  [CONSOLE_PATH]: { GET: 'open' },
  [`${CONSOLE_PATH}/`]: { GET: 'open' },
  [`${CONSOLE_ASSETS_PATH}/:name`]: { GET: 'open' },
};

/**
 * `route` is the matched route template. No match answers 404 and a method a route does not
 * define answers 405, so both are open; a route missing from the table is admin-only, so a new
 * route is closed until someone decides who may call it.
 */
export function orchestratorAccess(method: string, route: string | undefined): Access {
  if (route === undefined) return 'open';
  const methods = Object.hasOwn(ROUTES, route) ? ROUTES[route] : undefined;
  if (!methods) return 'admin';
  return methods[method === 'HEAD' ? 'GET' : method] ?? 'open';
}

/**
 * The role a db/write needs beyond the route's: a clear, or a delete or update without a
 * condition, changes every row and is the admin's, as db/clear is; the service role may change
 * only the rows it names.
 */
export function writeAccess(write: Write): Access {
  return touchesEveryRow(write) ? 'admin' : 'service';
}
