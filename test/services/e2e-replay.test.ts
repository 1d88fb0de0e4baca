/**
 * End to end, SPEC §8: the original grading sequence replayed through the gateway on a fresh real
 * database service, with the rides clock fixed in May 2020 so a ride dated 21-08-2021 is upcoming,
 * and the gateway of the 2020 compatibility mode (RIDESHARE_AUTH=off), through which the graders
 * cleared the rides.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbClient } from '../../src/services/dbclient/db-client.ts';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { expectError, MAY_2020, PASSWORD, type ScenarioContext } from '../../harness/services/scenario-helpers.ts';
import { replayScenarios } from '../../harness/services/scenarios/replay.ts';
import { HTTP_TIMEOUT_MS, startStack, type Stack } from '../../harness/services/stack.ts';

describe('replay on the real database service', () => {
  let database: DatabaseServiceHandle | undefined;
  let stack: Stack;
  let db: DbClient;
  const ctx: ScenarioContext = { stack: () => stack, db: () => db };

  beforeAll(async () => {
    database = await startDatabaseService();
    db = new DbClient({ urls: [database.orchestratorUrl], timeoutMs: HTTP_TIMEOUT_MS });
    stack = await startStack({ orchestratorUrl: database.orchestratorUrl, now: MAY_2020, httpTimeoutMs: 3000, usersInstances: 2, ridesInstances: 2, compatibility2020: true });
  });

  afterAll(async () => {
    await stack?.close();
    await db?.close();
    await database?.stop();
  });

  replayScenarios(ctx);

  it('answers 503 JSON, and stays up, once the database service is gone', async () => {
    await database?.stop();
    database = undefined;
    expectError(await stack.gateway.put('/api/v1/users', { username: 'late', password: PASSWORD }), 503, 'UNAVAILABLE');
    expectError(await stack.gateway.get('/api/v1/rides/count'), 503, 'UNAVAILABLE');
    expect((await stack.users[0]!.get('/health')).status).toBe(200);
  });
});
