/**
 * The cluster's clock (src/dbaas/coordination/ClusterClock.ts) against a real ZooKeeper: in this
 * process it reads what the machine's clock reads, and in a process whose wall clock libfaketime
 * sets 30 s ahead or behind it still reads the ensemble's time, so a command's deadline means
 * the same to an orchestrator and a worker whose hosts' clocks disagree.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LineChild, spawnLineChild } from '../../harness/clock/line-child.ts';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { HostClock } from '../../harness/hosts/host-clock.ts';
import { testServers } from '../../harness/inject.ts';
import { TEST_ZK_AUTH } from '../../harness/zk-auth.ts';
import { ClusterClock } from '../../src/dbaas/coordination/ClusterClock.ts';
import { ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';
import { clusterPaths } from '../../src/dbaas/protocol/names.ts';
import { childEnvironment } from '../../src/shared/child-environment.ts';
import { createLogger } from '../../src/shared/logger.ts';

const PROBE = path.resolve(import.meta.dirname, '../../harness/clock/cluster-clock-probe.ts');
/** Half a ZooKeeper round trip on a loaded machine, and the time between two readings. */
const TOLERANCE_MS = 500;

describe('the cluster clock', () => {
  const cluster = uniqueClusterName('clock');

  it('reads the ensemble\u2019s time: here, the machine\u2019s own clock', async () => {
    const zk = new ZkClient({ connect: testServers().zkConnect, sessionTimeoutMs: 4000, credentials: TEST_ZK_AUTH });
    const clock = new ClusterClock(clusterPaths(cluster).clock, createLogger('clock', 'silent'));
    try {
      await zk.connect();
      await clock.start(zk);
      expect(Math.abs(clock.now() - Date.now())).toBeLessThan(TOLERANCE_MS);
    } finally {
      clock.stop();
      zk.close();
    }
  });

  describe('in a process whose wall clock is off', () => {
    let folder: string;
    let hostClock: HostClock;
    let child: LineChild;
    let ask: () => Promise<[number, number]>;

    beforeAll(async () => {
      folder = mkdtempSync(path.join(os.tmpdir(), 'cluster-clock-'));
      hostClock = await HostClock.make(path.join(folder, 'faketime'));
      // Already ahead when it starts: its first reading of the ensemble has to correct its own clock.
      hostClock.step(30);
      const env = childEnvironment(
        [],
        { ZK_CONNECT: testServers().zkConnect, ZK_USER: TEST_ZK_AUTH.user, ZK_PASSWORD: TEST_ZK_AUTH.password, CLUSTER: cluster },
        { ...process.env, ...hostClock.environment },
      );
      child = spawnLineChild(['--import', 'tsx', PROBE], env);
      expect(await child.next()).toBe('ready');
      ask = () => child.ask<[number, number]>();
    }, 300_000);

    afterAll(() => {
      child?.kill();
      if (folder) rmSync(folder, { recursive: true, force: true });
    });

    it('reads the ensemble\u2019s time whether that clock is 30 s ahead, 30 s behind or stepped while it runs', async () => {
      for (const seconds of [30, -30, 0]) {
        hostClock.step(seconds);
        const [wall, cluster] = await ask();
        const now = Date.now();
        expect(Math.abs(wall - now - seconds * 1000)).toBeLessThan(TOLERANCE_MS);
        expect(Math.abs(cluster - now)).toBeLessThan(TOLERANCE_MS);
      }
    });
  });
});
