/**
 * The worker-runtime contract, with containers: real worker containers (the project image) on
 * the test's RabbitMQ and ZooKeeper. Each worker is the master of a database cluster of its own,
 * so workers never wait for one another; all share the runtime's container label.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';
import type { WorkerSettings } from '../../src/dbaas/worker/WorkerSettings.ts';
import { connectAmqp } from '../../src/dbaas/transport/amqp.ts';
import { clusterNames, clusterPaths } from '../../src/dbaas/protocol/names.ts';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { DockerRuntime, LABELS, WORKER_MAIN_IN_IMAGE } from '../../src/dbaas/runtime/DockerRuntime.ts';
import type { WorkerExit, WorkerHandle } from '../../src/dbaas/runtime/WorkerRuntime.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';
import { dockerEngine, suiteTitle } from '../../harness/docker-engine.ts';
import { TEST_CLUSTER_KEY } from '../../harness/signing.ts';
import { TEST_ZK_AUTH } from '../../harness/zk-auth.ts';

const engine = await dockerEngine();

describe.skipIf(!engine.ok)(suiteTitle('DockerRuntime: the worker-runtime contract with containers', engine), () => {
  const logger = createLogger('test-docker-runtime', process.env.TEST_LOG_LEVEL ?? 'warn');
  const cluster = uniqueClusterName('dockerrt');
  // Made in beforeAll: a skipped suite still runs this body, and must leave nothing behind.
  let dataDir: string;
  let logDir: string;
  const docker = engine.ok ? engine.docker : undefined!;
  const databases: string[] = [];
  let runtime: DockerRuntime;
  let zk: ZkClient;
  let serial = 0;

  const image = engine.ok ? engine.image : '';
  const newRuntime = () => new DockerRuntime({ cluster, dataDir, logDir, image, logger });
  const containers = () => docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`] } });

  /** A master worker of its own database cluster; `overrides` change its settings. */
  async function startWorker(overrides: Partial<WorkerSettings> = {}, on = runtime): Promise<WorkerHandle & { database: string; dbFile: string }> {
    const { amqpUrl, zkConnect } = testServers();
    serial += 1;
    const workerId = `m-${serial}-${Date.now().toString(36)}`;
    const database = `${cluster}-db${serial}`;
    databases.push(database);
    const dbFile = path.join(dataDir, 'workers', `${workerId}.db`);
    const handle = await on.start({
      workerId,
      role: 'master',
      settings: {
        workerId,
        role: 'master',
        dbFile,
        cluster: database,
        amqpUrl,
        zkConnect,
        zkSessionTimeoutMs: 1000,
        readWaitMs: 2000,
        snapshotTimeoutMs: 30_000,
        durability: 'process',
        logLevel: 'info',
        clusterKey: TEST_CLUSTER_KEY,
        zkAuth: TEST_ZK_AUTH,
        ...overrides,
      },
    });
    return { ...handle, database, dbFile };
  }

  const registration = (database: string, workerId: string) =>
    until(
      async () => {
        const { data } = await zk.getData<WorkerInfo>(clusterPaths(database).workerNode(workerId)).catch(() => ({ data: undefined }));
        return data?.ready ? data : undefined;
      },
      30_000,
      `worker ${workerId} ready in ZooKeeper`,
    );

  const nextExit = (on = runtime, workerId?: string) =>
    new Promise<WorkerExit>((resolve) => {
      const listener = (exit: WorkerExit) => {
        if (workerId && exit.workerId !== workerId) return;
        on.off('exit', listener);
        resolve(exit);
      };
      on.on('exit', listener);
    });

  const processState = (pid: number) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return undefined;
    }
  };

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));
    logDir = path.join(dataDir, 'logs');
    zk = new ZkClient({ connect: testServers().zkConnect, sessionTimeoutMs: 4000 });
    await zk.connect();
    runtime = newRuntime();
  });

  afterAll(async () => {
    await runtime?.close();
    zk?.close();
    // The workers' queues are durable; other tests must not trip over them.
    const connection = await connectAmqp(testServers().amqpUrl);
    for (const queue of databases.flatMap((database) => clusterNames(database).allQueues())) {
      const channel = await connection.createChannel();
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
    await connection.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts a labelled container on the host network and pid namespace, its data directory mounted at the same path', async () => {
    const worker = await startWorker();
    await registration(worker.database, worker.workerId);
    expect(runtime.list()).toContainEqual({ workerId: worker.workerId, pid: worker.pid });
    const [listed] = await docker.listContainers({ filters: { label: [`${LABELS.worker}=${worker.workerId}`] } });
    expect(listed?.Labels).toMatchObject({ [LABELS.cluster]: cluster, [LABELS.worker]: worker.workerId, [LABELS.role]: 'master' });
    const info = await docker.getContainer(listed!.Id).inspect();
    expect(info.HostConfig.NetworkMode).toBe('host');
    expect(info.HostConfig.PidMode).toBe('host');
    expect(info.HostConfig.AutoRemove).toBe(false);
    const workersDir = path.dirname(worker.dbFile);
    const settingsFile = path.join(dataDir, 'secrets', 'workers', `${worker.workerId}.json`);
    expect(info.HostConfig.Binds).toEqual([`${workersDir}:${workersDir}`, `${settingsFile}:/run/rideshare/worker-settings.json:ro`]);
    // The worker wrote its SQLite file through the mount, where the supervisor looks for it.
    expect(fs.existsSync(worker.dbFile)).toBe(true);
    await runtime.kill(worker.workerId);
    expect(fs.existsSync(settingsFile)).toBe(false);
  });

  it("keeps the worker's secrets out of the container's configuration and runs it as the runtime's user", async () => {
    const worker = await startWorker();
    await registration(worker.database, worker.workerId);
    const [listed] = await docker.listContainers({ filters: { label: [`${LABELS.worker}=${worker.workerId}`] } });
    const info = await docker.getContainer(listed!.Id).inspect();
    const { password } = new URL(testServers().amqpUrl);
    const inspected = JSON.stringify(info);
    for (const secret of [TEST_CLUSTER_KEY, TEST_ZK_AUTH.password, password].filter((value) => value.length > 0)) expect(inspected).not.toContain(secret);
    expect(info.Config.Env).toContain('RIDESHARE_WORKER_SETTINGS_FILE=/run/rideshare/worker-settings.json');
    expect(info.Config.User).toBe(`${process.getuid!()}:${process.getgid!()}`);
    expect(info.Config.Healthcheck?.Test).toEqual(['NONE']);
    const settingsFile = path.join(dataDir, 'secrets', 'workers', `${worker.workerId}.json`);
    expect(fs.statSync(settingsFile).mode & 0o777).toBe(0o600);
    await runtime.kill(worker.workerId);
  });

  it('uses one pid everywhere: the handle, State.Pid, the ZooKeeper registration, the host process', async () => {
    const worker = await startWorker();
    const registered = await registration(worker.database, worker.workerId);
    const [listed] = await docker.listContainers({ filters: { label: [`${LABELS.worker}=${worker.workerId}`] } });
    const statePid = (await docker.getContainer(listed!.Id).inspect()).State.Pid;
    expect(statePid).toBeGreaterThan(1);
    expect(worker.pid).toBe(statePid);
    expect(registered.pid).toBe(statePid);
    expect(fs.readFileSync(`/proc/${statePid}/cmdline`, 'utf8').split('\0')).toContain(WORKER_MAIN_IN_IMAGE);
    await runtime.kill(worker.workerId);
  });

  it('SIGSTOP freezes the worker and SIGCONT resumes it', async () => {
    const worker = await startWorker();
    await registration(worker.database, worker.workerId);
    await runtime.kill(worker.workerId, 'SIGSTOP');
    await until(() => processState(worker.pid) === 'T', 5000, 'the worker stopped');
    await runtime.kill(worker.workerId, 'SIGCONT');
    await until(() => processState(worker.pid) !== 'T', 5000, 'the worker running again');
    expect(runtime.list().map((handle) => handle.workerId)).toContain(worker.workerId);
    await runtime.kill(worker.workerId);
  });

  it('SIGKILL: resolves once the container is gone, reports the exit, keeps the output', async () => {
    const worker = await startWorker();
    await registration(worker.database, worker.workerId);
    const exit = nextExit(runtime, worker.workerId);
    await runtime.kill(worker.workerId, 'SIGKILL');
    expect(await exit).toEqual({ workerId: worker.workerId, pid: worker.pid, code: null, signal: 'SIGKILL' });
    expect(runtime.list().map((handle) => handle.workerId)).not.toContain(worker.workerId);
    expect(await docker.listContainers({ all: true, filters: { label: [`${LABELS.worker}=${worker.workerId}`] } })).toEqual([]);
    expect(processState(worker.pid)).toBeUndefined();
    expect(fs.readFileSync(path.join(logDir, `${worker.workerId}.log`), 'utf8')).toMatch(/serving as master/);
  });

  it('stop is graceful: SIGTERM reaches the worker, which closes down and exits 0', async () => {
    const worker = await startWorker();
    await registration(worker.database, worker.workerId);
    const exit = nextExit(runtime, worker.workerId);
    const started = Date.now();
    await runtime.stop(worker.workerId, 10_000);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await exit).toMatchObject({ workerId: worker.workerId, code: 0, signal: null });
    expect(fs.readFileSync(path.join(logDir, `${worker.workerId}.log`), 'utf8')).toMatch(/"signal":"SIGTERM"/);
    expect(await docker.listContainers({ all: true, filters: { label: [`${LABELS.worker}=${worker.workerId}`] } })).toEqual([]);
  });

  it('reports a worker that exits on its own (a die event), and removes its container', async () => {
    const exit = nextExit();
    // Nothing answers on port 1: the worker gives up connecting to ZooKeeper and exits.
    const worker = await startWorker({ zkConnect: '127.0.0.1:1' });
    expect(await exit).toMatchObject({ workerId: worker.workerId, code: 1, signal: null });
    await until(async () => (await containers()).every((info) => info.Labels[LABELS.worker] !== worker.workerId), 5000, 'the container removed');
    expect(fs.readFileSync(path.join(logDir, `${worker.workerId}.log`), 'utf8')).toMatch(/worker failed to start/);
  });

  it('adopt: a new runtime (an orchestrator restarted after a crash) takes over the live containers and removes dead ones', async () => {
    const first = await startWorker();
    const second = await startWorker();
    await Promise.all([registration(first.database, first.workerId), registration(second.database, second.workerId)]);
    // A leftover of a crashed orchestrator: a worker container that died while nobody watched.
    const dead = await docker.createContainer({
      Image: engine.ok ? engine.image : '',
      Entrypoint: ['node', '-e', 'process.exit(3)'],
      Labels: { [LABELS.cluster]: cluster, [LABELS.worker]: 'm-dead', [LABELS.role]: 'master' },
      HostConfig: { NetworkMode: 'host' },
    });
    await dead.start();
    await dead.wait();

    const successor = newRuntime();
    try {
      const adopted = await successor.adopt();
      expect(adopted).toEqual(
        expect.arrayContaining([
          { workerId: first.workerId, pid: first.pid },
          { workerId: second.workerId, pid: second.pid },
        ]),
      );
      expect(successor.list()).toHaveLength(2);
      expect((await containers()).map((info) => info.Labels[LABELS.worker])).not.toContain('m-dead');
      // A second call finds nothing new: what it runs already is not adopted twice.
      expect(await successor.adopt()).toEqual([]);

      const exit = nextExit(successor, first.workerId);
      await successor.kill(first.workerId, 'SIGKILL');
      expect(await exit).toMatchObject({ workerId: first.workerId, pid: first.pid, signal: 'SIGKILL' });
      const outside = nextExit(successor, second.workerId);
      process.kill(second.pid, 'SIGKILL'); // from outside: only the engine's die event tells
      expect(await outside).toMatchObject({ workerId: second.workerId, pid: second.pid, signal: 'SIGKILL' });
      expect(successor.list()).toEqual([]);
    } finally {
      await successor.close();
    }
  });

  it('an engine that fails to answer an inspect is asked again: a live worker is adopted, never taken for dead', async () => {
    const worker = await startWorker();
    await registration(worker.database, worker.workerId);
    const successor = new DockerRuntime({ cluster, dataDir, logDir, image, logger, docker: flakyEngine(docker, { inspect: 3 }) });
    const exits: WorkerExit[] = [];
    successor.on('exit', (exit) => exits.push(exit));
    try {
      expect(await successor.adopt()).toContainEqual({ workerId: worker.workerId, pid: worker.pid });
      expect(exits).toEqual([]);
      const [listed] = await docker.listContainers({ filters: { label: [`${LABELS.worker}=${worker.workerId}`] } });
      expect(listed?.State).toBe('running');
    } finally {
      await successor.kill(worker.workerId);
      await successor.close();
    }
  });

  it('kill resolves only when the engine confirms the exit, and the exit is reported once the container is removed', async () => {
    // No events reach this runtime and its first waits and inspects fail: only a confirmed answer may end the kill.
    const faults = { inspect: 0, wait: 2, events: true };
    const flaky = new DockerRuntime({ cluster, dataDir, logDir, image, logger, docker: flakyEngine(docker, faults) });
    const worker = await startWorker({}, flaky);
    await registration(worker.database, worker.workerId);
    const [listed] = await docker.listContainers({ filters: { label: [`${LABELS.worker}=${worker.workerId}`] } });
    faults.inspect = 2;
    const atExit = new Promise<number | undefined>((resolve) =>
      flaky.once('exit', () =>
        resolve(
          docker
            .getContainer(listed!.Id)
            .inspect()
            .then(
              () => undefined,
              (error: { statusCode?: number }) => error.statusCode,
            ),
        ),
      ),
    );
    const exit = nextExit(flaky, worker.workerId);
    try {
      await flaky.kill(worker.workerId, 'SIGKILL');
      expect(faults.wait).toBe(0); // the failures were there, and were not taken for a death
      expect(await exit).toEqual({ workerId: worker.workerId, pid: worker.pid, code: null, signal: 'SIGKILL' });
      expect(await atExit).toBe(404);
      expect(processState(worker.pid)).toBeUndefined();
    } finally {
      await flaky.close();
    }
  });

  it('close stops and removes every container of the cluster', async () => {
    const workers = await Promise.all([startWorker(), startWorker()]);
    await Promise.all(workers.map((worker) => registration(worker.database, worker.workerId)));
    expect((await containers()).length).toBeGreaterThanOrEqual(2);
    const exits: WorkerExit[] = [];
    runtime.on('exit', (exit) => exits.push(exit));
    await runtime.close();
    expect(await containers()).toEqual([]);
    expect(runtime.list()).toEqual([]);
    expect(exits.map((exit) => exit.code)).toEqual([0, 0]);
  });
});

/**
 * The engine, with the next `inspect` / `wait` calls on any container failing as an overloaded
 * engine's do (HTTP 500), and with `events` a stream that never delivers (as if events were lost).
 */
function flakyEngine(real: Docker, faults: { inspect?: number; wait?: number; events?: boolean }): Docker {
  const failing = (method: 'inspect' | 'wait') => async () => {
    faults[method] = (faults[method] ?? 0) - 1;
    throw Object.assign(new Error(`(HTTP code 500) server error - ${method} failed`), { statusCode: 500 });
  };
  const container = (id: string) =>
    new Proxy(real.getContainer(id), {
      get(target, property, receiver) {
        if ((property === 'inspect' || property === 'wait') && (faults[property] ?? 0) > 0) return failing(property);
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return new Proxy(real, {
    get(target, property, receiver) {
      if (property === 'getContainer') return container;
      if (property === 'getEvents' && faults.events) return async () => new PassThrough();
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
