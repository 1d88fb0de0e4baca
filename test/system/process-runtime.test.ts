/**
 * ProcessRuntime finds its cluster's workers by the tag on their command line, registered in
 * ZooKeeper or not, and never signals a pid that no longer belongs to the worker it recorded.
 * The /proc start time a runtime records can be forged here (processes.ts's identify is wrapped),
 * which is how a pid handed to another process is simulated.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ProcessRuntime } from '../../src/dbaas/runtime/ProcessRuntime.ts';
import { findClusterWorkers, killClusterWorkers, workerTag } from '../../src/dbaas/runtime/worker-processes.ts';
import type { WorkerExit } from '../../src/dbaas/runtime/WorkerRuntime.ts';
import { commandLine, isAlive, sendSignal, waitFor } from '../../src/shared/processes.ts';
import { uniqueClusterName as uniqueCluster } from '../../harness/database-service.ts';
import { TEST_CLUSTER_KEY } from '../../harness/signing.ts';
import { TEST_ZK_AUTH } from '../../harness/zk-auth.ts';

/** Pids whose recorded start time is forged: to the runtime they look like another process now. */
const forged = new Set<number>();
vi.mock('../../src/shared/processes.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/shared/processes.ts')>();
  return {
    ...actual,
    identify: (pid: number) => {
      const identity = actual.identify(pid);
      return identity && forged.has(pid) ? { ...identity, startTime: `${identity.startTime}-earlier` } : identity;
    },
  };
});

const started = new Set<number>();
let dataDir: string;
/** A RabbitMQ address where nobody ever answers: a worker pointed at it starts but never registers. */
let silent: net.Server;
let silentUrl: string;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-process-runtime-'));
  silent = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentUrl = `amqp://guest:guest@127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
});

afterEach(() => {
  for (const pid of started) sendSignal(pid, 'SIGKILL');
  started.clear();
  forged.clear();
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function newRuntime(cluster: string): ProcessRuntime {
  return new ProcessRuntime({ cluster, logDir: path.join(dataDir, 'logs') });
}

function unregisteredWorker(cluster: string, workerId: string) {
  return {
    workerId,
    role: 'slave' as const,
    settings: {
      workerId,
      role: 'slave' as const,
      dbFile: path.join(dataDir, `${workerId}.db`),
      cluster,
      amqpUrl: silentUrl,
      zkConnect: '127.0.0.1:1',
      zkSessionTimeoutMs: 1000,
      readWaitMs: 2000,
      snapshotTimeoutMs: 30_000,
      durability: 'process' as const,
      logLevel: 'warn',
      clusterKey: TEST_CLUSTER_KEY,
      zkAuth: TEST_ZK_AUTH,
    },
  };
}

/**
 * A process that only sleeps but carries a worker's tag, as a stand-in for a worker; with
 * `ownNetwork`, in a network namespace of its own (`unshare --net` execs it with the same pid),
 * as another host of a test bed would run it.
 */
async function taggedSleeper(cluster: string, workerId: string, ownNetwork = false): Promise<number> {
  const tag = workerTag(cluster, workerId);
  const command = [process.execPath, '-e', 'setInterval(() => {}, 60_000)', '--', tag];
  const [program, ...args] = (ownNetwork ? ['unshare', '--net', ...command] : command) as [string, ...string[]];
  const child = spawn(program, args, { detached: true, stdio: 'ignore' });
  child.unref();
  const pid = child.pid as number;
  started.add(pid);
  // Until its exec, a fresh child still shows our own command line.
  if (!(await waitFor(() => commandLine(pid)?.includes(tag) ?? false, 5000))) throw new Error('the tagged process did not start');
  return pid;
}

describe('ProcessRuntime adoption', () => {
  it('tags each worker process with its cluster and id', async () => {
    const cluster = uniqueCluster('tag');
    const runtime = newRuntime(cluster);
    const handle = await runtime.start(unregisteredWorker(cluster, 's-tagged'));
    started.add(handle.pid);
    try {
      expect(commandLine(handle.pid)).toContain(`--rideshare-worker=${cluster}/s-tagged`);
      expect(findClusterWorkers(cluster).map((worker) => [worker.workerId, worker.pid])).toEqual([['s-tagged', handle.pid]]);
    } finally {
      await runtime.close();
    }
    expect(isAlive(handle.pid)).toBe(false);
  });

  it('a worker started by one runtime and registered nowhere is found by a second runtime, which can stop it', async () => {
    const cluster = uniqueCluster('adopt');
    const first = newRuntime(cluster);
    const handle = await first.start(unregisteredWorker(cluster, 's-unregistered'));
    started.add(handle.pid);
    // Another cluster's worker on the same machine is not ours to adopt.
    const other = uniqueCluster('other');
    const stranger = await taggedSleeper(other, 's-stranger');

    const second = newRuntime(cluster);
    expect(await second.adopt()).toEqual([{ workerId: 's-unregistered', pid: handle.pid }]);
    expect(second.list()).toEqual([{ workerId: 's-unregistered', pid: handle.pid }]);
    expect(await second.adopt()).toEqual([]); // already its own

    const exits: WorkerExit[] = [];
    second.on('exit', (exit) => exits.push(exit));
    await second.kill('s-unregistered', 'SIGKILL');
    expect(isAlive(handle.pid)).toBe(false);
    expect(exits).toEqual([{ workerId: 's-unregistered', pid: handle.pid, code: null, signal: null }]);
    expect(second.list()).toEqual([]);
    expect(isAlive(stranger)).toBe(true);
    await first.close();
  });

  it('an adopted worker that dies is reported as an exit', async () => {
    const cluster = uniqueCluster('watch');
    const pid = await taggedSleeper(cluster, 's-watched');
    const runtime = newRuntime(cluster);
    expect(await runtime.adopt()).toEqual([{ workerId: 's-watched', pid }]);
    const exit = new Promise<WorkerExit>((resolve) => runtime.once('exit', resolve));
    process.kill(pid, 'SIGKILL');
    expect(await exit).toMatchObject({ workerId: 's-watched', pid });
    expect(runtime.list()).toEqual([]);
  });

  it('a first start without adoption kills the workers an earlier run left behind', async () => {
    const cluster = uniqueCluster('stray');
    const stray = await taggedSleeper(cluster, 's-stray');
    const runtime = newRuntime(cluster);
    const handle = await runtime.start(unregisteredWorker(cluster, 's-new'));
    started.add(handle.pid);
    expect(await waitFor(() => !isAlive(stray), 5000)).toBe(true);
    expect(runtime.list()).toEqual([{ workerId: 's-new', pid: handle.pid }]);
    await runtime.close();
  });

  it('a handle whose pid now belongs to another process is never signalled', async () => {
    const cluster = uniqueCluster('reuse');
    const pid = await taggedSleeper(cluster, 's-reused');
    // The runtime records a start time that is not the current process's: as if the worker it
    // saw had died and the kernel had given its pid to this one.
    forged.add(pid);
    const runtime = newRuntime(cluster);
    expect(await runtime.adopt()).toEqual([{ workerId: 's-reused', pid }]);
    const exits: WorkerExit[] = [];
    runtime.on('exit', (exit) => exits.push(exit));
    await runtime.kill('s-reused', 'SIGKILL');
    await runtime.stop('s-reused', 10);
    await runtime.close();
    // The worker it knew is gone (reported once); the process now holding the pid is untouched.
    expect(exits).toEqual([{ workerId: 's-reused', pid, code: null, signal: null }]);
    expect(isAlive(pid)).toBe(true);
  });

  it("adopts and clears away only the workers of its own network namespace: another host's on the same machine are left alone", async () => {
    const cluster = uniqueCluster('netns');
    const here = await taggedSleeper(cluster, 's-here');
    const elsewhere = await taggedSleeper(cluster, 's-elsewhere', true);
    expect(
      findClusterWorkers(cluster)
        .map((worker) => worker.pid)
        .sort(),
    ).toEqual([here, elsewhere].sort());
    expect(findClusterWorkers(cluster, { thisNetworkNamespaceOnly: true }).map((worker) => worker.pid)).toEqual([here]);
    const adopting = newRuntime(cluster);
    expect((await adopting.adopt()).map((handle) => handle.pid)).toEqual([here]);
    await adopting.close();
    expect(isAlive(here)).toBe(false);
    // A fresh start (no adoption) kills an earlier run's workers: only those of its own namespace.
    const stray = await taggedSleeper(cluster, 's-stray');
    const fresh = newRuntime(cluster);
    const handle = await fresh.start(unregisteredWorker(cluster, 's-new'));
    started.add(handle.pid);
    expect(await waitFor(() => !isAlive(stray), 5000)).toBe(true);
    expect(isAlive(elsewhere)).toBe(true);
    await fresh.close();
    expect(isAlive(elsewhere)).toBe(true);
  });

  it('killClusterWorkers stops every worker of the cluster and nothing else', async () => {
    const cluster = uniqueCluster('sweep');
    const mine = [await taggedSleeper(cluster, 's-1'), await taggedSleeper(cluster, 'm-1')];
    const stranger = await taggedSleeper(uniqueCluster('other'), 's-1');
    const killed = await killClusterWorkers(cluster, { graceMs: 1000 });
    expect(killed.map((worker) => worker.pid).sort()).toEqual([...mine].sort());
    expect(mine.some(isAlive)).toBe(false);
    expect(isAlive(stranger)).toBe(true);
  });
});
