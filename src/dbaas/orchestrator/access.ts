/**
 * Who may call what on the orchestrator (docs/security.md): the database calls need the service
 * role, destructive and operational calls the admin role; what only describes the cluster stays
 * open, as `worker/list` and the health checks must for the specification's clients.
 */
import type { Access } from '../../shared/http/auth.ts';

const NEEDS: Record<string, Access> = {
  'POST /api/v1/db/read': 'service',
  'POST /api/v1/db/write': 'service',
  'POST /api/v1/db/clear': 'admin',
  'POST /api/v1/db/backup': 'admin',
  'POST /api/v1/crash/master': 'admin',
  'POST /api/v1/crash/slave': 'admin',
  'PUT /api/v1/scaling/slaves': 'admin',
};

export function orchestratorAccess(method: string, route: string | undefined): Access {
  return NEEDS[`${method} ${route ?? ''}`] ?? 'open';
}
