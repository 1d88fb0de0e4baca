/**
 * The API scenarios on an in-memory database service: quick, and runnable without RabbitMQ or
 * ZooKeeper. The same scenarios run on the real database service in e2e-api.test.ts.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { DbClient } from '../../src/services/dbclient/db-client.ts';
import { FakeDatabase } from './support/fake-database.ts';
import { AREAS_FILE, MAY_2020, type ScenarioContext } from './support/fixtures.ts';
import { consistencyScenarios } from './support/scenarios/consistency.ts';
import { countRuleScenarios } from './support/scenarios/count-rule.ts';
import { replayScenarios } from './support/scenarios/replay.ts';
import { ridesApiScenarios } from './support/scenarios/rides-api.ts';
import { usersApiScenarios } from './support/scenarios/users-api.ts';
import { startStack, type Stack } from './support/stack.ts';

describe('services through the gateway, on a fake database service', () => {
  const fake = new FakeDatabase();
  let stack: Stack;
  let db: DbClient;
  const ctx: ScenarioContext = { stack: () => stack, db: () => db };

  beforeAll(async () => {
    const url = await fake.start();
    db = new DbClient({ url });
    stack = await startStack({ orchestratorUrl: url, now: MAY_2020, areasFile: AREAS_FILE, usersInstances: 2, ridesInstances: 2 });
  });

  afterAll(async () => {
    await stack?.close();
    await db?.close();
    await fake.stop();
  });

  usersApiScenarios(ctx);
  ridesApiScenarios(ctx);
  countRuleScenarios(ctx);
  consistencyScenarios(ctx);
  replayScenarios(ctx);
});
