/**
 * The sync log as the master and the replicas use it, against the real broker: a replica reads
 * from where it attached (earlier entries are in the copy it starts from, later ones reach it), a
 * second reader attached at the same time reads the same entries in the same order, a reader whose
 * connection closed reads on from the entry after its last one on a new connection, and a publish
 * that reaches no log is refused instead of confirmed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp, { type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/dbaas/protocol/messages.ts';
import { clusterNames } from '../../src/dbaas/protocol/names.ts';
import type { SyncWrite } from '../../src/dbaas/protocol/sync.ts';
import { openEpoch } from '../../src/dbaas/replication/epoch-fence.ts';
import { SyncFollower } from '../../src/dbaas/replication/SyncFollower.ts';
import { SyncPublisher } from '../../src/dbaas/replication/SyncPublisher.ts';
import { assertSyncLog } from '../../src/dbaas/transport/topology.ts';
import { Store } from '../../src/dbaas/worker/Store.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';
import { testSigner } from '../../harness/signing.ts';

const logger = createLogger('test', 'silent');

function userWrite(seq: number): SyncWrite {
  return {
    v: PROTOCOL_VERSION,
    kind: 'write',
    epoch: 1,
    seq,
    requestId: `w-${seq}`,
    write: { op: 'insert', table: 'users', values: { username: `u${seq}`, password: 'ab'.repeat(20) } },
    result: { changes: 1, seq, epoch: 1 },
  };
}

describe('the sync log', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-sync-log-'));
  const names = clusterNames(uniqueClusterName('synclog'));
  let connection: ChannelModel;
  const stores: Store[] = [];

  beforeAll(async () => {
    connection = await amqp.connect(testServers().amqpUrl);
  });
  afterAll(async () => {
    const cleanup = await connection.createChannel();
    await cleanup.deleteQueue(names.syncLog).catch(() => undefined);
    await cleanup.deleteExchange(names.syncEpochExchange(1)).catch(() => undefined);
    await cleanup.deleteExchange(names.syncExchange).catch(() => undefined);
    await connection.close();
    for (const store of stores) store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A replica at seq `at`, as if copied from a snapshot there (the writes up to it applied). */
  function replicaAt(name: string, at: number): Store {
    const store = new Store(path.join(dir, `${name}.db`));
    stores.push(store);
    for (let seq = 1; seq <= at; seq += 1) store.applyReplicated(userWrite(seq));
    return store;
  }

  it('refuses a publish that reaches no log, rather than confirming it', async () => {
    const setup = await connection.createChannel();
    await setup.assertExchange(names.syncExchange, 'fanout', { durable: true });
    await setup.close();
    await openEpoch(connection, names, 1, 0);
    const publisher = new SyncPublisher(await connection.createConfirmChannel(), names, 1, 'master-1', testSigner.as('master'));
    // The epoch's exchange is bound to the fanout, but nothing is bound to the fanout yet.
    await expect(publisher.publish([userWrite(1)])).rejects.toThrow(/reached no sync log/);
  });

  it('brings every replica, from where it attached, the same entries in the same order', async () => {
    await assertSyncLog(connection, names);
    const publisher = new SyncPublisher(await connection.createConfirmChannel(), names, 1, 'master-1', testSigner.as('master'));
    // Before any replica attaches: in the copies they start from, never read from the log.
    for (let seq = 1; seq <= 3; seq += 1) await publisher.publish([userWrite(seq)]);

    const followers = [new SyncFollower(await connection.createChannel(), names.syncLog, testSigner, logger), new SyncFollower(await connection.createChannel(), names.syncLog, testSigner, logger)];
    const problems: string[] = [];
    for (const follower of followers) {
      follower.on('broken', (reason) => problems.push(reason));
      await follower.attach();
    }
    // Published while the replicas copy their snapshot: held for them until they start.
    await publisher.publish([userWrite(4), userWrite(5)]);
    const stores = [replicaAt('a', 3), replicaAt('b', 3)];
    for (const [index, follower] of followers.entries()) follower.start(stores[index] as Store);
    for (let seq = 6; seq <= 40; seq += 1) await publisher.publish([userWrite(seq)]);

    for (const store of stores) await until(() => store.appliedSeq === 40, 10_000, 'a replica at seq 40');
    expect(problems).toEqual([]);
    for (const store of stores) {
      expect(Array.from({ length: 40 }, (_, index) => store.requestAt(index + 1))).toEqual(Array.from({ length: 40 }, (_, index) => `w-${index + 1}`));
    }
  });

  it('resumes on a new connection from the entry after the last one handled, missing nothing', async () => {
    const publisher = new SyncPublisher(await connection.createConfirmChannel(), names, 1, 'master-1', testSigner.as('master'));
    const lost = await amqp.connect(testServers().amqpUrl);
    const follower = new SyncFollower(await lost.createChannel(), names.syncLog, testSigner, logger);
    const problems: string[] = [];
    follower.on('broken', (reason) => problems.push(reason));
    await follower.attach();
    const store = replicaAt('resumed', 40);
    follower.start(store);
    // Attached, nothing handled yet: where to read on from is not known.
    await expect(follower.resume(await connection.createChannel())).rejects.toThrow(/no sync message handled yet/);
    for (let seq = 41; seq <= 50; seq += 1) await publisher.publish([userWrite(seq)]);
    await until(() => store.appliedSeq === 50, 10_000, 'the replica at seq 50');
    const resumeOffset = follower.resumeOffset;
    expect(resumeOffset).toBeTypeOf('number');

    await lost.close();
    // Published while the replica has no connection: in the log, read once it resumes.
    for (let seq = 51; seq <= 60; seq += 1) await publisher.publish([userWrite(seq)]);
    const again = await amqp.connect(testServers().amqpUrl);
    try {
      await follower.resume(await again.createChannel());
      await publisher.publish([userWrite(61), userWrite(62)]);
      await until(() => store.appliedSeq === 62, 10_000, 'the resumed replica at seq 62');
      expect(problems).toEqual([]);
      expect(Array.from({ length: 62 }, (_, index) => store.requestAt(index + 1))).toEqual(Array.from({ length: 62 }, (_, index) => `w-${index + 1}`));
      expect(follower.resumeOffset).toBeGreaterThan(resumeOffset as number);
    } finally {
      await again.close();
    }
  });
});
