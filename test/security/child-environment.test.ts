/**
 * `npm start` with ADMIN_TOKEN and SERVICE_TOKEN exported (and a secret of something else in the
 * shell): each process it starts sees only the variables it needs, read from /proc/<pid>/environ.
 * The admin token reaches the orchestrators alone; the service token the orchestrators and the
 * services; the public gateway no token at all; a worker neither; the unrelated secret no one.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../harness/replicas.ts';
import { findClusterWorkers } from '../../src/dbaas/runtime/worker-processes.ts';
import { startSystem, type RunningSystem } from '../../harness/system/npm-start.ts';

const ADMIN_TOKEN = `adm-${'A'.repeat(40)}`;
const SERVICE_TOKEN = `svc-${'S'.repeat(40)}`;
const UNRELATED = 'UNRELATED_CLOUD_SECRET';

function environOf(pid: number): Map<string, string> {
  const entries = fs
    .readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .filter((entry) => entry.includes('='))
    .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)] as [string, string]);
  return new Map(entries);
}

describe('the processes npm start starts get an allow-listed environment', () => {
  let system: RunningSystem;

  const environOfEntry = (entry: string): Map<string, string> => {
    const found = system.processRunning(entry);
    if (!found) throw new Error(`${entry} is not running`);
    return environOf(found.pid);
  };

  beforeAll(async () => {
    system = await startSystem({ via: 'node', env: { ADMIN_TOKEN, SERVICE_TOKEN, [UNRELATED]: 'do-not-pass-me-on' } });
  }, 120_000);
  afterAll(async () => {
    await system?.stop();
  });

  it('the gateway gets no token, no DATA_DIR and nothing unrelated', () => {
    const env = environOfEntry('src/services/gateway/main.ts');
    expect(env.has('ADMIN_TOKEN')).toBe(false);
    expect(env.has('SERVICE_TOKEN')).toBe(false);
    expect(env.has('DATA_DIR')).toBe(false);
    expect(env.has(UNRELATED)).toBe(false);
    expect(env.get('GATEWAY_PORT')).toBe(String(system.ports.gateway));
    expect(env.has('PATH')).toBe(true);
  });

  it('the users and rides services get the service token, never the admin token', () => {
    for (const entry of ['src/services/users/main.ts', 'src/services/rides/main.ts']) {
      const env = environOfEntry(entry);
      expect(env.get('SERVICE_TOKEN'), entry).toBe(SERVICE_TOKEN);
      expect(env.has('ADMIN_TOKEN'), entry).toBe(false);
      expect(env.has(UNRELATED), entry).toBe(false);
      expect(env.has('AMQP_URL'), entry).toBe(false);
    }
  });

  it('the orchestrator gets both tokens and the servers\u2019 addresses, nothing unrelated', () => {
    const env = environOfEntry('src/dbaas/orchestrator/main.ts');
    expect(env.get('ADMIN_TOKEN')).toBe(ADMIN_TOKEN);
    expect(env.get('SERVICE_TOKEN')).toBe(SERVICE_TOKEN);
    expect(env.has('AMQP_URL')).toBe(true);
    expect(env.has(UNRELATED)).toBe(false);
  });

  it('a worker gets its settings and no token', async () => {
    const workers = await until(
      () => {
        const found = findClusterWorkers(system.cluster);
        return found.length > 0 ? found : undefined;
      },
      30_000,
      'a worker to run',
    );
    for (const worker of workers) {
      const env = environOf(worker.pid);
      expect(env.has('RIDESHARE_WORKER_SETTINGS')).toBe(true);
      expect(env.has('ADMIN_TOKEN')).toBe(false);
      expect(env.has('SERVICE_TOKEN')).toBe(false);
      expect(env.has(UNRELATED)).toBe(false);
    }
  });
});
