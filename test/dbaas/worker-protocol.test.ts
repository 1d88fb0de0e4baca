/**
 * Which protocol a worker speaks, and what a supervisor does about workers of another one:
 * registrations written by workers of protocol 3 (no `protocol` field) still read, as protocol 3;
 * workers of an older protocol are all stopped (slaves first, the master last) and a master of
 * this protocol restarts from their files; a worker of a newer protocol is reported once and
 * nothing is stopped or started. The registrations live in the run's real ZooKeeper; the stops
 * and starts are recorded instead of done (the whole path runs for real in
 * test/operate/rolling-upgrade.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { testServers } from '../../harness/inject.ts';
import { ClusterHistory } from '../../src/dbaas/coordination/ClusterHistory.ts';
import { listWorkers, WorkerRegistration } from '../../src/dbaas/coordination/worker-registry.ts';
import { CreateMode, ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';
import { PROTOCOL_VERSION } from '../../src/dbaas/protocol/messages.ts';
import { clusterPaths } from '../../src/dbaas/protocol/names.ts';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { protocolOf, speaksOurProtocol } from '../../src/dbaas/protocol/worker-protocol.ts';
import { ProtocolUpgrade } from '../../src/dbaas/supervisor/ProtocolUpgrade.ts';
import { SupervisionJournal } from '../../src/dbaas/supervisor/SupervisionJournal.ts';
import { createLogger } from '../../src/shared/logger.ts';

function worker(workerId: string, role: 'master' | 'slave', protocol: number | undefined): WorkerInfo {
  return { workerId, pid: 1000, role, ready: true, appliedSeq: 10, epoch: 2, ...(protocol === undefined ? {} : { protocol }) };
}

describe('workers of another protocol version', () => {
  let zk: ZkClient;
  const cluster = uniqueClusterName('protocol');

  beforeAll(async () => {
    zk = new ZkClient({ connect: testServers().zkConnect, sessionTimeoutMs: 4000 });
    await zk.connect();
  });
  afterAll(async () => {
    // What this test made under its cluster's root goes with it (the root stays: only /rideshare's owner may delete there,
    // and the run's private ZooKeeper goes at the end of the run).
    const paths = clusterPaths(cluster);
    for (const id of await zk.getChildrenIfExists(paths.workers)) await zk.removeIfExists(paths.workerNode(id));
    for (const path of [paths.workers, paths.history]) await zk.removeIfExists(path);
    zk.close();
  });

  it('reads the registration of a worker of protocol 3, which has no protocol field, as protocol 3; ours as ours', async () => {
    const paths = clusterPaths(cluster);
    await zk.ensurePath(paths.workers);
    // Exactly what a worker of the previous release writes.
    await zk.create(paths.workerNode('m-old'), { workerId: 'm-old', pid: 4242, role: 'master', ready: true, appliedSeq: 7, epoch: 3, startedAt: 1_700_000_000_000 }, CreateMode.EPHEMERAL);
    await WorkerRegistration.register(zk, cluster, { ...worker('s-new', 'slave', PROTOCOL_VERSION), pid: 4343 });
    const workers = new Map((await listWorkers(zk, cluster)).map((info) => [info.workerId, info]));
    expect(workers.get('m-old')).toMatchObject({ pid: 4242, role: 'master', appliedSeq: 7, epoch: 3 });
    expect(protocolOf(workers.get('m-old')!)).toBe(3);
    expect(speaksOurProtocol(workers.get('m-old')!)).toBe(false);
    expect(protocolOf(workers.get('s-new')!)).toBe(PROTOCOL_VERSION);
    expect(speaksOurProtocol(workers.get('s-new')!)).toBe(true);
  });

  function upgradeUnderTest() {
    const lines: string[] = [];
    const logger = createLogger('test', 'info', { write: (line: string) => void lines.push(line) });
    const journal = new SupervisionJournal(new ClusterHistory(zk, cluster), logger);
    const events: string[] = [];
    journal.on('event', (event) => events.push(event.kind === 'failover' ? event.reason : event.kind));
    const actions: string[] = [];
    const upgrade = new ProtocolUpgrade({
      stopWorker: async (workerId, graceMs) => {
        expect(graceMs).toBeGreaterThan(0);
        actions.push(`stop ${workerId}`);
      },
      startMasterFromFiles: async () => {
        actions.push('master from files');
        return { workerId: 'm-next', pid: 5000 };
      },
      startSlaves: async () => {
        actions.push('slaves');
      },
      journal,
      logger,
    });
    return { upgrade, actions, events, lines };
  }

  it('replaces every worker when any is of an older protocol: slaves first, the master last, then a master of ours from the files and slaves beside it', async () => {
    const { upgrade, actions, events } = upgradeUnderTest();
    const live = [worker('m-1', 'master', undefined), worker('s-1', 'slave', undefined), worker('s-2', 'slave', PROTOCOL_VERSION)];
    expect(await upgrade.handle(live)).toBe('replaced');
    expect(actions).toEqual(['stop s-1', 'stop s-2', 'stop m-1', 'master from files', 'slaves']);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatch(/^protocol upgrade: 3 worker\(s\) of protocol 3 stopped/);
  });

  it('leaves a cluster of its own protocol alone', async () => {
    const { upgrade, actions } = upgradeUnderTest();
    expect(await upgrade.handle([worker('m-1', 'master', PROTOCOL_VERSION), worker('s-1', 'slave', PROTOCOL_VERSION)])).toBe('none');
    expect(await upgrade.handle([])).toBe('none');
    expect(actions).toEqual([]);
  });

  it('refuses a worker of a newer protocol loudly, once, and stops or starts nothing', async () => {
    const { upgrade, actions, lines } = upgradeUnderTest();
    const live = [worker('m-1', 'master', PROTOCOL_VERSION + 1), worker('s-1', 'slave', undefined)];
    expect(await upgrade.handle(live)).toBe('refused');
    expect(await upgrade.handle(live)).toBe('refused');
    expect(actions).toEqual([]);
    const errors = lines.map((line) => JSON.parse(line) as { level: number; msg: string; workers?: { workerId: string; protocol: number }[] }).filter((line) => line.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toMatch(/NEWER protocol/);
    expect(errors[0]!.workers).toEqual([expect.objectContaining({ workerId: 'm-1', protocol: PROTOCOL_VERSION + 1 })]);
  });
});
