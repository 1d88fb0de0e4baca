/**
 * A rolling upgrade under load from the previous protocol version to this one: the previous
 * release (harness/previous-release.ts) runs as `node dist/main.js` with two orchestrators, two
 * users and two rides instances, while clients write and read through the gateway. Then the
 * operator's procedure (docs/operations.md, "Upgrading across protocol versions"): this build's
 * dist/ is put in place of the old one, and each of the six processes is sent SIGTERM in turn;
 * the old process manager starts each again, now from the new files. The supervisor of the new
 * version that adopts the old workers replaces them.
 *
 * Asserted: not one request failed; every acknowledged user and ride is on every replica
 * afterwards, and none twice; every worker speaks this protocol at the end.
 *
 * UPGRADE_TO_DIST names another build to upgrade to (a dist/ folder); by default this checkout
 * is built and used.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { previousRelease } from '../../harness/previous-release.ts';
import { until } from '../../harness/replicas.ts';
import type { ClusterStatus } from '../../src/dbaas/orchestrator/ClusterStatus.ts';
import { PROTOCOL_VERSION } from '../../src/dbaas/protocol/messages.ts';
import { workerDbFile, workersDirOf } from '../../src/dbaas/worker/files.ts';
import { freePorts } from '../../src/shared/ports.ts';
import { sendSignal } from '../../src/shared/processes.ts';
import { pidWith, ready, startSystem, type RunningSystem } from '../../harness/system/npm-start.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Outcome {
  kind: 'read' | 'write';
  status: number | string;
  ms: number;
  /** When it was sent, ms since the test's clock started. */
  at: number;
}

/**
 * This checkout's dist/, built (what `npm start` would run), unless another build is named. It
 * builds in a process of its own, so the previous release starts meanwhile.
 */
async function newBuild(): Promise<string> {
  if (process.env.UPGRADE_TO_DIST) return process.env.UPGRADE_TO_DIST;
  const build = spawn(process.execPath, ['scripts/build.mjs'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  build.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve, reject) => build.once('error', reject).once('close', resolve));
  if (code !== 0) throw new Error(`the build failed:\n${stderr}`);
  return path.join(PROJECT_ROOT, 'dist');
}

/** A copy of the built previous release to run and upgrade (the cached one stays as built). */
function deployPreviousRelease(): string {
  const release = previousRelease();
  const deployed = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-upgrade-deploy-'));
  const packages = path.join(release.dir, 'node_modules');
  fs.cpSync(release.dir, deployed, { recursive: true, filter: (source) => source !== packages });
  fs.symlinkSync(fs.realpathSync(packages), path.join(deployed, 'node_modules'), 'dir');
  return deployed;
}

/** What an operator does before restarting in turn: the new files in place of the old ones. */
function putInPlace(newDist: string, deployed: string): void {
  const incoming = path.join(deployed, 'dist.incoming');
  fs.cpSync(newDist, incoming, { recursive: true });
  fs.renameSync(path.join(deployed, 'dist'), path.join(deployed, 'dist.previous'));
  fs.renameSync(incoming, path.join(deployed, 'dist'));
}

describe('a rolling upgrade from the previous protocol version under load', () => {
  let system: RunningSystem | undefined;
  let deployed: string;
  let newDist: string;
  let building: Promise<string> | undefined;
  let ports: { orchestrators: number[]; users: number[]; rides: number[] };

  beforeAll(async () => {
    deployed = deployPreviousRelease();
    building = newBuild();
    // A failed build is reported where it is awaited, below, not as an unhandled rejection meanwhile.
    building.catch(() => undefined);
    const [o1, o2, u1, u2, r1, r2] = (await freePorts(6)) as number[];
    ports = { orchestrators: [o1!, o2!], users: [u1!, u2!], rides: [r1!, r2!] };
    system = await startSystem({
      via: 'dist',
      root: deployed,
      env: {
        ORCHESTRATOR_PORT: ports.orchestrators.join(','),
        USERS_PORT: ports.users.join(','),
        RIDES_PORT: ports.rides.join(','),
        RIDESHARE_NOW: '01-01-2020:00-00-00',
        LOG_LEVEL: 'warn',
      },
    });
    await Promise.all(ports.orchestrators.map((port) => until(async () => ((await ready(`http://127.0.0.1:${port}`)) ? true : undefined), 60_000, `orchestrator ${port} ready`)));
    newDist = await building;
  }, 180_000);

  afterAll(async () => {
    // The build is not left running if the start failed first.
    await building?.catch(() => undefined);
    await system?.stop();
    if (deployed) fs.rmSync(deployed, { recursive: true, force: true });
  });

  it('serves every request while each process is replaced by the new version, and ends with workers of this protocol only', async () => {
    const running = system as RunningSystem;
    const gateway = running.gatewayUrl;
    const clock = performance.now();
    const outcomes: Outcome[] = [];
    const ackedUsers = new Set<string>();
    const ackedRides = new Set<string>();
    let going = true;
    const call = async (kind: Outcome['kind'], method: string, urlPath: string, body: unknown, expected: number[]): Promise<boolean> => {
      const started = performance.now();
      let status: number | string;
      try {
        const response = await fetch(`${gateway}${urlPath}`, {
          method,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await response.text();
        status = expected.includes(response.status) ? response.status : `${response.status} ${text.slice(0, 200)}`;
      } catch (error) {
        status = `transport: ${(error as Error).message} ${String((error as { cause?: unknown }).cause ?? '')}`;
      }
      outcomes.push({ kind, status, ms: performance.now() - started, at: started - clock });
      return typeof status === 'number';
    };
    const writer = async (lane: number): Promise<void> => {
      for (let n = 0; going; n += 1) {
        const username = `upgrade-${lane}-${n}`;
        if (!(await call('write', 'PUT', '/api/v1/users', { username, password: 'a'.repeat(40) }, [201]))) continue;
        ackedUsers.add(username);
        if (await call('write', 'POST', '/api/v1/rides', { created_by: username, timestamp: '01-01-2030:00-00-00', source: 1 + lane, destination: 10 }, [201])) ackedRides.add(username);
      }
    };
    const reader = async (lane: number): Promise<void> => {
      while (going) {
        await call('read', 'GET', `/api/v1/rides?source=${1 + lane}&destination=10`, undefined, [200, 204]);
        await call('read', 'GET', '/api/v1/users', undefined, [200, 204]);
      }
    };
    const load = [0, 1, 2].flatMap((lane) => [writer(lane), reader(lane)]);

    const steps: string[] = [];
    const replace = async (variable: string, port: number): Promise<void> => {
      steps.push(`${Math.round(performance.now() - clock)} ms: SIGTERM ${variable}=${port}`);
      const before = pidWith(running, variable, port);
      expect(before, `the process on ${variable}=${port}`).toBeDefined();
      sendSignal(before!, 'SIGTERM');
      await until(
        async () => {
          const now = pidWith(running, variable, port);
          return now !== undefined && now !== before && (await ready(`http://127.0.0.1:${port}`)) ? true : undefined;
        },
        90_000,
        `${variable}=${port} replaced and ready`,
      );
      steps.push(`${Math.round(performance.now() - clock)} ms: ${variable}=${port} back, new version`);
    };
    const cluster = async () => (await (await fetch(`http://127.0.0.1:${ports.orchestrators[1]}/api/v1/cluster`)).json()) as ClusterStatus;
    const before = await cluster();
    let upgradeStartedAt = 0;
    try {
      await until(() => (ackedRides.size >= 5 ? true : undefined), 30_000, 'load running');
      putInPlace(newDist, deployed);
      upgradeStartedAt = performance.now() - clock;
      for (const port of ports.orchestrators) await replace('ORCHESTRATOR_PORT', port);
      for (const port of ports.users) await replace('USERS_PORT', port);
      for (const port of ports.rides) await replace('RIDES_PORT', port);
      const afterRestarts = ackedRides.size;
      await until(() => (ackedRides.size >= afterRestarts + 5 ? true : undefined), 30_000, 'load still running after the upgrade');
    } finally {
      going = false;
      await Promise.all(load);
    }

    // Every worker is of this version and caught up with the master.
    const settled = await until(
      async () => {
        const status = await cluster();
        const master = status.master;
        const all = status.workers;
        const whole = master !== null && all.length === 1 + status.slaves.desired && all.every((worker) => worker.ready && worker.appliedSeq === master.appliedSeq);
        return whole ? status : undefined;
      },
      60_000,
      'the cluster whole and caught up',
    );
    expect(settled.workers.map((worker) => worker.protocol)).toEqual(settled.workers.map(() => PROTOCOL_VERSION));
    expect(before.workers.every((worker) => worker.protocol === undefined || worker.protocol === 3)).toBe(true);
    const oldPids = new Set(before.workers.map((worker) => worker.pid));
    expect(settled.workers.filter((worker) => oldPids.has(worker.pid))).toEqual([]);
    expect(settled.orchestrators).toHaveLength(2);

    // Nothing acknowledged lost, nothing doubled, on every replica.
    for (const worker of settled.workers) {
      const db = new Database(workerDbFile(workersDirOf(running.dataDir), worker.workerId), { readonly: true, fileMustExist: true });
      try {
        const users = new Set((db.prepare("SELECT username FROM users WHERE username LIKE 'upgrade-%'").all() as { username: string }[]).map((row) => row.username));
        const rides = db.prepare("SELECT created_by AS createdBy, count(*) AS n FROM rides WHERE created_by LIKE 'upgrade-%' GROUP BY created_by").all() as { createdBy: string; n: number }[];
        expect(
          [...ackedUsers].filter((username) => !users.has(username)),
          `acknowledged users missing on ${worker.workerId}`,
        ).toEqual([]);
        const rideCounts = new Map(rides.map((row) => [row.createdBy, row.n]));
        expect(
          [...ackedRides].filter((username) => rideCounts.get(username) !== 1),
          `acknowledged rides missing on ${worker.workerId}`,
        ).toEqual([]);
        expect(
          rides.filter((row) => row.n > 1),
          `rides applied twice on ${worker.workerId}`,
        ).toEqual([]);
      } finally {
        db.close();
      }
    }

    const failed = outcomes.filter((outcome) => typeof outcome.status === 'string');
    console.log(`upgrade steps (the new files in place at ${Math.round(upgradeStartedAt)} ms):\n  ${steps.join('\n  ')}`);
    const during = outcomes.filter((outcome) => outcome.at >= upgradeStartedAt);
    const longest = (kind: Outcome['kind']) => Math.round(Math.max(...during.filter((outcome) => outcome.kind === kind).map((outcome) => outcome.ms)));
    console.log(
      `rolling upgrade 3 -> ${PROTOCOL_VERSION}: ${outcomes.length} requests (${during.length} during the upgrade), ${failed.length} failed; ` +
        `longest write ${longest('write')} ms, longest read ${longest('read')} ms; ${ackedUsers.size} users and ${ackedRides.size} rides acknowledged`,
    );
    expect(failed.slice(0, 5)).toEqual([]);
    expect(ackedRides.size).toBeGreaterThan(20);
  }, 400_000);
});
