/**
 * `npm start` as a process manager: a service that dies is started again (the orchestrator
 * adopting the workers that kept running), and the database serves throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, put } from '../../harness/http.ts';
import { until } from '../../harness/replicas.ts';
import { startSystem, type RunningSystem, type SystemProcess } from '../../harness/system/npm-start.ts';

const ORCHESTRATOR = 'src/dbaas/orchestrator/main.ts';
const USERS = 'src/services/users/main.ts';

/** The process running `entry` once it is another than `previous`: the restarted one. */
function replacement(system: RunningSystem, entry: string, previous: SystemProcess): Promise<SystemProcess> {
  return until(
    () => {
      const current = system.processRunning(entry);
      return current && current.pid !== previous.pid ? current : undefined;
    },
    20_000,
    `${entry} to be started again`,
  );
}

async function workerPids(system: RunningSystem): Promise<number[] | undefined> {
  try {
    const response = await get<number[]>(`${system.orchestratorUrl}/api/v1/worker/list`);
    return response.status === 200 ? response.body : undefined;
  } catch {
    return undefined; // not listening (yet)
  }
}

function logLines(system: RunningSystem): Array<Record<string, unknown>> {
  return system
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('npm start keeps its services running', () => {
  let system: RunningSystem;

  beforeAll(async () => {
    system = await startSystem({ via: 'npm' });
  });

  afterAll(async () => {
    await system?.cleanUp();
  });

  it('runs compiled JavaScript from dist/ (the worker as one bundle): no process loads the tsx loader', () => {
    const processes = system.processes().filter((proc) => proc.args.some((arg) => arg.endsWith('.js')));
    const entries = processes.map((proc) => proc.args.find((arg) => arg.endsWith('.js'))?.replace(/^.*\/dist\//, 'dist/'));
    expect(entries).toEqual(
      expect.arrayContaining([
        'dist/main.js',
        'dist/dbaas/orchestrator/main.js',
        'dist/dbaas/worker/main.bundle.js',
        'dist/services/users/main.js',
        'dist/services/rides/main.js',
        'dist/services/gateway/main.js',
      ]),
    );
    expect(system.processes().filter((proc) => proc.args.includes('tsx'))).toEqual([]);
  });

  it('a killed orchestrator is started again, adopts the running workers, and writes go through', async () => {
    const workers = await until(() => workerPids(system), 10_000, 'the worker list');
    expect(workers).toHaveLength(2);
    const first = system.processRunning(ORCHESTRATOR) as SystemProcess;
    process.kill(first.pid, 'SIGKILL');

    await replacement(system, ORCHESTRATOR, first);
    expect(await until(() => workerPids(system), 20_000, 'the new orchestrator to answer')).toEqual(workers);
    const restart = logLines(system).find((line) => line.msg === 'orchestrator exited; restarting it');
    expect(restart).toMatchObject({ service: 'orchestrator', signal: 'SIGKILL', code: null, restartInMs: 500 });

    // Once the dead one's ZooKeeper session is gone, the new one supervises the same workers.
    await until(() => (system.output().includes('adopted running worker processes') ? true : undefined), 20_000, 'the workers to be adopted');
    const write = await put(`${system.gatewayUrl}/api/v1/users`, { username: 'x', password: 'a1'.repeat(20) });
    expect(write.status).toBe(201);
    expect(await workerPids(system)).toEqual(workers);
  });

  it('a killed users service is started again', async () => {
    const first = system.processRunning(USERS) as SystemProcess;
    process.kill(first.pid, 'SIGKILL');
    await replacement(system, USERS, first);
    const read = await until(
      async () => {
        const response = await put(`${system.gatewayUrl}/api/v1/users`, { username: 'y', password: 'b2'.repeat(20) }).catch(() => undefined);
        return response?.status === 201 ? response : undefined;
      },
      20_000,
      'the users service to serve again',
    );
    expect(read.status).toBe(201);
    expect(logLines(system).some((line) => line.msg === 'users exited; restarting it' && line.signal === 'SIGKILL')).toBe(true);
  });
});
