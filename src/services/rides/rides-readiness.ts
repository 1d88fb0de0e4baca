/**
 * A rides instance can serve when an orchestrator answers and so does the gateway through which it
 * asks whether a user exists: without that gateway every new ride fails. Across hosts a host
 * coming back starts its rides instance beside its gateway, and the other gateways hold back new
 * requests from it until both answer (src/services/gateway/upstream-group.ts).
 */
import type { Readiness } from '../../shared/http/health.ts';
import type { DbClient } from '../dbclient/db-client.ts';
import { databaseReadiness } from '../http/readiness.ts';
import type { UsersDirectory } from './users-directory.ts';

export async function ridesReadiness(db: DbClient, users: UsersDirectory): Promise<Readiness> {
  const [database, gateway] = await Promise.all([databaseReadiness(db), users.reachable()]);
  if (!database.ready) return database;
  if (!gateway) return { ready: false, reason: 'the gateway for users lookups does not answer' };
  return database;
}
