/**
 * End to end: gateway, users and rides in process, on the real database service (orchestrator,
 * RabbitMQ, ZooKeeper, one SQLite master and one slave). Every row of SPEC §2–§3, the cascade
 * and the `_count` rule.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { DbClient } from '../../src/services/dbclient/db-client.ts';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { AREAS_FILE, MAY_2020, type ScenarioContext } from '../../harness/services/scenario-helpers.ts';
import { consistencyScenarios } from '../../harness/services/scenarios/consistency.ts';
import { countRuleScenarios } from '../../harness/services/scenarios/count-rule.ts';
import { ridesApiScenarios } from '../../harness/services/scenarios/rides-api.ts';
import { usersApiScenarios } from '../../harness/services/scenarios/users-api.ts';
import { HTTP_TIMEOUT_MS, startStack, type Stack } from '../../harness/services/stack.ts';

describe('services through the gateway, on the real database service', () => {
  let database: DatabaseServiceHandle;
  let stack: Stack;
  let db: DbClient;
  const ctx: ScenarioContext = { stack: () => stack, db: () => db };

  beforeAll(async () => {
    database = await startDatabaseService();
    db = new DbClient({ urls: [database.orchestratorUrl], timeoutMs: HTTP_TIMEOUT_MS });
    stack = await startStack({ orchestratorUrl: database.orchestratorUrl, now: MAY_2020, areasFile: AREAS_FILE, usersInstances: 2, ridesInstances: 2 });
  });

  afterAll(async () => {
    await stack?.close();
    await db?.close();
    await database?.stop();
  });

  usersApiScenarios(ctx);
  ridesApiScenarios(ctx);
  countRuleScenarios(ctx);
  consistencyScenarios(ctx);
});
