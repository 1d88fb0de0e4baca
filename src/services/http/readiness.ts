/** A service is ready when one of its orchestrators answers: without one it can answer nothing but errors. */
import type { Readiness } from '../../shared/http/health.ts';
import type { DbClient } from '../dbclient/db-client.ts';

export async function databaseReadiness(db: DbClient): Promise<Readiness> {
  const orchestrator = await db.reachable();
  if (orchestrator === undefined) return { ready: false, reason: 'no orchestrator answers' };
  return { ready: true, reason: 'an orchestrator answers', details: { orchestrator } };
}
