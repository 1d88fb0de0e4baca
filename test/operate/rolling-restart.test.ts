/**
 * A rolling restart under load: the real `npm start` system (compiled to dist/ from this
 * checkout, as an operator runs it) with two orchestrators, two users and two rides instances;
 * each of the six is sent SIGTERM in turn, as an operator replacing it with a new version would
 * (docs/operations.md), and comes back through the process manager, while clients keep reading
 * and writing through the gateway. Not one request may fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../harness/replicas.ts';
import { freePorts } from '../../src/shared/ports.ts';
import { sendSignal } from '../../src/shared/processes.ts';
import type { ClusterStatus } from '../../src/dbaas/orchestrator/ClusterStatus.ts';
import { pidWith, ready, startSystem, type RunningSystem } from '../../harness/system/npm-start.ts';

interface Outcome {
  kind: 'read' | 'write';
  status: number | string;
  ms: number;
}

describe('a rolling restart of every orchestrator and service instance', () => {
  let system: RunningSystem;
  let ports: { orchestrators: number[]; users: number[]; rides: number[] };

  beforeAll(async () => {
    const [o1, o2, u1, u2, r1, r2] = (await freePorts(6)) as number[];
    ports = { orchestrators: [o1!, o2!], users: [u1!, u2!], rides: [r1!, r2!] };
    system = await startSystem({
      via: 'npm',
      env: {
        ORCHESTRATOR_PORT: ports.orchestrators.join(','),
        USERS_PORT: ports.users.join(','),
        RIDES_PORT: ports.rides.join(','),
        RIDESHARE_NOW: '01-01-2020:00-00-00',
        LOG_LEVEL: 'warn',
        ...(process.env.TEST_DRAIN_MS ? { SHUTDOWN_DRAIN_MS: process.env.TEST_DRAIN_MS } : {}),
      },
      // `npm start` compiles first when a source changed since the last build.
      upTimeoutMs: 150_000,
    });
    await Promise.all(ports.orchestrators.map((port) => until(async () => ((await ready(`http://127.0.0.1:${port}`)) ? true : undefined), 60_000, `orchestrator ${port} ready`)));
  }, 240_000);

  afterAll(async () => {
    await system?.stop();
  });

  it('loses no request while each instance is replaced in turn', async () => {
    const gateway = system.gatewayUrl;
    const outcomes: Outcome[] = [];
    let running = true;
    let written = 0;
    const call = async (kind: Outcome['kind'], method: string, path: string, body: unknown, expected: number[]): Promise<void> => {
      const started = performance.now();
      let status: number | string;
      try {
        const response = await fetch(`${gateway}${path}`, {
          method,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(20_000),
        });
        const text = await response.text();
        status = expected.includes(response.status) ? response.status : `${response.status} ${text.slice(0, 200)}`;
      } catch (error) {
        status = `transport: ${(error as Error).message} ${String((error as { cause?: unknown }).cause ?? '')}`;
      }
      outcomes.push({ kind, status, ms: performance.now() - started });
    };
    const writer = async (lane: number): Promise<void> => {
      for (let n = 0; running; n += 1) {
        const username = `rolling-${lane}-${n}`;
        await call('write', 'PUT', '/api/v1/users', { username, password: 'a'.repeat(40) }, [201]);
        await call('write', 'POST', '/api/v1/rides', { created_by: username, timestamp: '01-01-2030:00-00-00', source: 1 + lane, destination: 10 }, [201]);
        written += 1;
      }
    };
    const reader = async (lane: number): Promise<void> => {
      while (running) {
        await call('read', 'GET', `/api/v1/rides?source=${1 + lane}&destination=10`, undefined, [200, 204]);
        await call('read', 'GET', '/api/v1/users', undefined, [200, 204]);
      }
    };
    const load = [0, 1, 2].flatMap((lane) => [writer(lane), reader(lane)]);

    const replace = async (variable: string, port: number): Promise<void> => {
      const before = pidWith(system, variable, port);
      expect(before, `the process on ${variable}=${port}`).toBeDefined();
      sendSignal(before!, 'SIGTERM');
      await until(
        async () => {
          const now = pidWith(system, variable, port);
          return now !== undefined && now !== before && (await ready(`http://127.0.0.1:${port}`)) ? true : undefined;
        },
        60_000,
        `${variable}=${port} replaced and ready`,
      );
    };
    const cluster = async () => (await (await fetch(`http://127.0.0.1:${ports.orchestrators[1]}/api/v1/cluster`)).json()) as ClusterStatus;
    const before = await cluster();
    try {
      await until(() => (written >= 5 ? true : undefined), 20_000, 'load running');
      for (const port of ports.orchestrators) await replace('ORCHESTRATOR_PORT', port);
      for (const port of ports.users) await replace('USERS_PORT', port);
      for (const port of ports.rides) await replace('RIDES_PORT', port);
      const afterRestarts = written;
      await until(() => (written >= afterRestarts + 5 ? true : undefined), 20_000, 'load still running after the restarts');
    } finally {
      running = false;
      await Promise.all(load);
    }

    // The database never stopped: the same workers serve, and supervision moved between orchestrators.
    const after = await cluster();
    expect(after.workers.map((worker) => worker.pid).sort()).toEqual(before.workers.map((worker) => worker.pid).sort());
    expect(after.supervisor?.orchestratorId).not.toBe(before.supervisor?.orchestratorId);
    expect(after.events.some((event) => event.kind === 'supervision' && event.takeover && event.at > before.at)).toBe(true);
    expect(after.orchestrators).toHaveLength(2);

    const failed = outcomes.filter((outcome) => typeof outcome.status === 'string');
    const longest = (kind: Outcome['kind']) => Math.round(Math.max(...outcomes.filter((outcome) => outcome.kind === kind).map((outcome) => outcome.ms)));
    console.log(`rolling restart: ${outcomes.length} requests, ${failed.length} failed; longest write ${longest('write')} ms, longest read ${longest('read')} ms`);
    expect(failed.slice(0, 5)).toEqual([]);
    expect(outcomes.filter((outcome) => outcome.kind === 'write').length).toBeGreaterThan(20);
  }, 300_000);
});
