/**
 * A ZooKeeper link that goes silent (a partition: packets dropped, not refused) must be noticed
 * by the client itself: the ensemble expires the session after the session timeout whatever the
 * client believes, and a master's lease goes with it. node-zookeeper-client alone stayed
 * connected through such a partition and learned of the expiry only once it healed. Here, with
 * the link-fault proxy in front of a private ZooKeeper: the client must report itself
 * disconnected within a third of the session timeout, its session lost within the session
 * timeout after that (plus the client's margin), and open a new session once the link heals.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';
import { sleep } from '../../src/shared/timeout.ts';
import { RestartableServer } from '../../harness/faults/servers.ts';
import { staysTrue } from '../../harness/replicas.ts';
import { describeRuns, measureDeadLink, type DeadLinkRun, type WatchedSession } from '../../harness/faults/dead-link.ts';

const SESSION_TIMEOUT_MS = 4000;
const RUNS = Number(process.env.DEAD_LINK_RUNS ?? 3);
/** What the client adds to the session timeout before it declares the session lost (ZkClient's LOSS_MARGIN_MS), and event-loop slack. */
const LOSS_MARGIN_MS = 500 + 300;

function watchedZkClient(connect: string): WatchedSession {
  const client = new ZkClient({ connect, sessionTimeoutMs: SESSION_TIMEOUT_MS, renew: true });
  return {
    connect: () => client.connect(),
    on: (event, listener) => {
      if (event === 'disconnected') client.on('disconnected', listener);
      else if (event === 'lost') client.on('expired', listener);
      else {
        client.on('connected', listener);
        client.on('renewed', listener);
      }
    },
    close: () => client.close(),
  };
}

describe('a ZooKeeper client whose link goes silent', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-zk-dead-link-'));
  let zk: RestartableServer;

  beforeAll(async () => {
    zk = await RestartableServer.zooKeeper(dir, 200);
    await zk.start();
  }, 60_000);
  afterAll(async () => {
    await zk?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports itself disconnected within a third of the session timeout, its session lost soon after the timeout, and comes back after the heal', async () => {
    // Each run has a proxy, a client and a session of its own, so the runs go at once: what one
    // measures is its own client's timers, which the others' idle links do not hold up.
    const runs: DeadLinkRun[] = await Promise.all(
      Array.from({ length: RUNS }, (_, run) =>
        measureDeadLink(watchedZkClient, { zkPort: zk.port, sessionTimeoutMs: SESSION_TIMEOUT_MS, partitionMs: 2 * SESSION_TIMEOUT_MS, reconnectWaitMs: 15_000 }, run),
      ),
    );
    console.log(describeRuns('ZkClient', runs));
    for (const run of runs) {
      expect(run.disconnectedMs, 'silence to "disconnected"').toBeLessThanOrEqual(SESSION_TIMEOUT_MS / 3);
      expect(run.lostMs, 'silence to "expired"').toBeLessThanOrEqual(SESSION_TIMEOUT_MS / 3 + SESSION_TIMEOUT_MS + LOSS_MARGIN_MS);
      expect(run.reconnectedMs, 'heal to a session again').toBeDefined();
    }
  }, 180_000);

  it('does not take a stall of its own process for a dead link', async () => {
    const client = new ZkClient({ connect: `127.0.0.1:${zk.port}`, sessionTimeoutMs: SESSION_TIMEOUT_MS });
    let disconnected = false;
    client.on('disconnected', () => (disconnected = true));
    try {
      await client.connect();
      await sleep(SESSION_TIMEOUT_MS / 5);
      // Longer than the silence the client allows: the server's answers wait in the socket meanwhile.
      const until = Date.now() + SESSION_TIMEOUT_MS / 2;
      while (Date.now() < until) {
        // busy: the event loop is blocked, as by a long synchronous task or a GC pause
      }
      await staysTrue(() => !disconnected, SESSION_TIMEOUT_MS / 2, 'reported disconnected after its own stall, with the server answering all along');
      expect(await client.exists('/')).not.toBeNull();
    } finally {
      client.close();
    }
  });
});
