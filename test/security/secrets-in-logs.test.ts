/**
 * The whole system as `npm start` runs it, tokens given in the environment and made in files:
 * after real traffic, no log of any process (the services' and orchestrators' output, every
 * worker's file) holds a token, the cluster key, the ZooKeeper password or a user's password.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../harness/http.ts';
import { until } from '../../harness/replicas.ts';
import { startSystem, type RunningSystem } from '../../harness/system/npm-start.ts';

describe('secrets stay out of the logs', () => {
  let system: RunningSystem;
  const serviceToken = `svc-${'S'.repeat(40)}`;
  const password = '0123456789abcdef0123456789abcdef01234567';

  beforeAll(async () => {
    system = await startSystem({ via: 'node', env: { SERVICE_TOKEN: serviceToken, LOG_LEVEL: 'debug' } });
  }, 120_000);
  afterAll(async () => {
    await system?.stop();
  });

  it('after users were created, read and refused, no log holds a token, the cluster key or a password', async () => {
    const gateway = system.gatewayUrl;
    await until(async () => ((await request('GET', `${system.orchestratorUrl}/ready`)).status === 200 ? true : undefined), 60_000, 'the database ready');
    // This test is about the logs: on a loaded machine the first write may meet a 503 and be retried
    // (a 400 then says an earlier attempt was applied behind it).
    const created = await until(
      async () => {
        const answer = await request('PUT', `${gateway}/api/v1/users`, { json: { username: 'keeper', password } });
        return answer.status === 201 || answer.status === 400 ? answer : undefined;
      },
      30_000,
      'the user created',
    );
    expect([201, 400]).toContain(created.status);
    expect((await request('GET', `${gateway}/api/v1/users`)).status).toBe(200);
    const admin = fs.readFileSync(path.join(system.dataDir, 'secrets', 'admin.token'), 'utf8').trim();
    const clusterKey = fs.readFileSync(path.join(system.dataDir, 'secrets', 'cluster.key'), 'utf8').trim();
    const zkDigest = fs.readFileSync(path.join(system.dataDir, 'secrets', 'zookeeper.digest'), 'utf8').trim();
    expect(fs.existsSync(path.join(system.dataDir, 'secrets', 'service.token'))).toBe(false);
    // A refused call with a token in its header, and one that brings the admin token.
    expect((await request('POST', `${system.orchestratorUrl}/api/v1/db/clear`, { headers: { authorization: `Bearer ${serviceToken}` } })).status).toBe(403);
    const read = await request('POST', `${system.orchestratorUrl}/api/v1/db/read`, { json: { table: 'users' }, headers: { authorization: `Bearer ${admin}` } });
    expect(read.text).toContain(password);

    const logDir = path.join(system.dataDir, 'logs');
    const workerLogs = fs.existsSync(logDir) ? fs.readdirSync(logDir).map((file) => fs.readFileSync(path.join(logDir, file), 'utf8')) : [];
    const everything = [system.output(), ...workerLogs].join('\n');
    expect(everything).toContain('"msg":"request"');
    for (const [name, secret] of Object.entries({ serviceToken, admin, clusterKey, zkDigest, password })) {
      expect(everything.includes(secret), `${name} in a log`).toBe(false);
    }
  });
});
