import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, post } from '../../harness/http.ts';
import { until } from '../../harness/replicas.ts';
import type { ClusterStatus } from '../../src/dbaas/orchestrator/ClusterStatus.ts';

describe('what an operator sees: /health, /ready and /api/v1/cluster', () => {
  let service: DatabaseServiceHandle;
  const url = (path: string) => `${service.orchestratorUrl}${path}`;
  const status = async () => (await get<ClusterStatus>(url('/api/v1/cluster'))).body;
  /** One sample of the orchestrator's /metrics, summed over the series whose labels include `labels` (0 when none). */
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const text = (await get(url('/metrics'))).text;
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  };

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1 });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('is alive and ready once a master and a slave serve', async () => {
    expect((await get(url('/health'))).body).toEqual({ status: 'ok' });
    const ready = await until(
      async () => {
        const answer = await get<{ status: string; reason: string; master: number }>(url('/ready'));
        return answer.status === 200 ? answer : undefined;
      },
      20_000,
      'ready',
    );
    expect(ready.body.status).toBe('ready');
    expect(ready.body.master).toBeGreaterThan(0);
  });

  it('lists every worker with its role, position and lag behind the master', async () => {
    for (let i = 0; i < 5; i += 1) {
      const write = await post(url('/api/v1/db/write'), { op: 'insert', table: 'users', values: { username: `status-${i}`, password: 'a'.repeat(40) } });
      expect(write.status).toBe(200);
    }
    const caughtUp = await until(
      async () => {
        const current = await status();
        const slave = current.workers.find((worker) => worker.role === 'slave');
        return current.master && current.master.appliedSeq >= 5 && slave?.lag === 0 ? current : undefined;
      },
      10_000,
      'the slave caught up in the status',
    );
    expect(caughtUp.workers).toHaveLength(2);
    const pids = (await get<number[]>(url('/api/v1/worker/list'))).body;
    expect(caughtUp.workers.map((worker) => worker.pid).sort((a, b) => a - b)).toEqual(pids);
    for (const worker of caughtUp.workers) {
      expect(worker).toMatchObject({ ready: true, state: 'serving', runtime: 'process', lag: 0 });
      expect(worker.epoch).toBeGreaterThanOrEqual(1);
      expect(Date.parse(worker.startedAt ?? '')).toBeGreaterThan(Date.now() - 10 * 60_000);
    }
    expect(caughtUp.slaves).toEqual({ desired: 1, ready: 1, joining: 0 });
    const [self] = caughtUp.orchestrators;
    expect(caughtUp.orchestrators).toHaveLength(1);
    expect(self).toMatchObject({ self: true, supervising: true, pid: process.pid, url: service.orchestratorUrl });
    expect(caughtUp.supervisor?.orchestratorId).toBe(self?.orchestratorId);
    const kinds = caughtUp.events.map((event) => event.kind);
    expect(kinds).toContain('supervision');
    expect(caughtUp.events.filter((event) => event.kind === 'worker-started')).toHaveLength(2);
  });

  it('records a crash of the master as an exit, a failover and a replacement, with reasons', async () => {
    const before = await status();
    const counted = {
      failovers: await metric('rideshare_failovers_total'),
      exits: await metric('rideshare_worker_exits_total', { reason: 'crash-api' }),
      replacements: await metric('rideshare_worker_starts_total', { reason: 'replacement' }),
    };
    const [killed] = (await post<number[]>(url('/api/v1/crash/master'))).body;
    const after = await until(
      async () => {
        const current = await status();
        const failover = current.events.find((event) => event.kind === 'failover' && event.at > before.at);
        const replacement = current.events.find((event) => event.kind === 'worker-started' && event.reason === 'replacement' && event.at > before.at);
        return failover && replacement && current.slaves.ready === 1 ? current : undefined;
      },
      30_000,
      'a failover and a replacement in the history',
    );
    const exit = after.events.find((event) => event.kind === 'worker-exited' && event.pid === killed);
    expect(exit).toMatchObject({ reason: 'crash-api', signal: 'SIGKILL' });
    const failover = after.events.find((event) => event.kind === 'failover' && event.at > before.at);
    expect(failover).toMatchObject({ pid: after.master?.pid, reason: `master pid ${killed}: crash-api` });
    expect(after.master?.epoch).toBeGreaterThan(before.master?.epoch ?? Infinity);
    expect(after.workers.map((worker) => worker.pid)).not.toContain(killed);
    // The same events as counters, for Prometheus.
    expect(await metric('rideshare_failovers_total')).toBe(counted.failovers + 1);
    expect(await metric('rideshare_worker_exits_total', { reason: 'crash-api' })).toBe(counted.exits + 1);
    expect(await metric('rideshare_worker_starts_total', { reason: 'replacement' })).toBeGreaterThanOrEqual(counted.replacements + 1);
  });

  it('is not ready while the cluster has no ready slave', async () => {
    await until(async () => ((await get(url('/ready'))).status === 200 ? true : undefined), 20_000, 'ready again');
    const slave = (await status()).workers.find((worker) => worker.role === 'slave')!;
    const retiredBefore = await metric('rideshare_worker_exits_total', { reason: 'retired' });
    await service.orchestrator.supervisor!.setDesiredSlaves(0);
    const notReady = await until(
      async () => {
        const answer = await get<{ status: string; reason: string }>(url('/ready'));
        return answer.status === 503 ? answer : undefined;
      },
      20_000,
      'not ready without a slave',
    );
    expect(notReady.body).toMatchObject({ status: 'not ready', reason: 'no ready slave to serve reads' });
    // The slave leaves the registry as it starts to drain; its exit is recorded once it is gone.
    const exit = await until(async () => (await status()).events.find((event) => event.kind === 'worker-exited' && event.pid === slave.pid), 20_000, 'the exit recorded');
    expect(exit).toMatchObject({ reason: 'retired' });
    expect(await metric('rideshare_worker_exits_total', { reason: 'retired' })).toBe(retiredBefore + 1);
    expect((await status()).workers.map((worker) => worker.pid)).not.toContain(slave.pid);
    await service.orchestrator.supervisor!.setDesiredSlaves(1);
  });

  it('answers other methods on its paths with 405', async () => {
    expect((await post(url('/api/v1/cluster'))).status).toBe(405);
    expect((await post(url('/ready'))).status).toBe(405);
  });
});
