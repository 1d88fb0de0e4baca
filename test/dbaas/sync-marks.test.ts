/**
 * Epoch marks on a replica's stream, against the real broker: a replica ahead of a newly promoted
 * master is caught even though the promotion's fence mark of the same epoch came first, and the
 * same mark seen again is only a repeat.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';
import { testSigner } from '../../harness/signing.ts';
import { encode, PROTOCOL_VERSION } from '../../src/dbaas/protocol/messages.ts';
import type { SyncEpoch } from '../../src/dbaas/protocol/sync.ts';
import { clusterNames, type ClusterNames } from '../../src/dbaas/protocol/names.ts';
import { SyncFollower } from '../../src/dbaas/replication/SyncFollower.ts';
import { assertSyncLog, assertTopology } from '../../src/dbaas/transport/topology.ts';
import { Store } from '../../src/dbaas/worker/Store.ts';
import { createLogger } from '../../src/shared/logger.ts';

const master = testSigner.as('master', 'new-master');

describe('epoch marks on a replica', () => {
  let connection: ChannelModel;
  let channel: Channel;
  let names: ClusterNames;
  let dir: string;
  let store: Store;
  let follower: SyncFollower;
  const broken: string[] = [];
  const epochs: number[] = [];

  beforeEach(async () => {
    connection = await amqp.connect(testServers().amqpUrl);
    channel = await connection.createChannel();
    names = clusterNames(uniqueClusterName('marks'));
    await assertTopology(connection, names);
    await assertSyncLog(connection, names);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-marks-'));
    // A replica of epoch 1 at seq 5, as if copied at seq 2 and then following.
    const copy = new Store(path.join(dir, 'replica.db'));
    for (let i = 1; i <= 2; i += 1) copy.applyAsMaster(`w-${i}`, { op: 'insert', table: 'users', values: { username: `u${i}`, password: 'ab'.repeat(20) } }, 1);
    store = copy;
    broken.length = 0;
    epochs.length = 0;
    follower = new SyncFollower(await connection.createChannel(), names.syncLog, testSigner, createLogger('replica', 'silent'));
    follower.on('broken', (reason) => broken.push(reason));
    follower.on('epoch', (epoch) => epochs.push(epoch));
    await follower.attach();
    follower.start(store);
    for (let i = 3; i <= 5; i += 1) {
      publish({
        v: PROTOCOL_VERSION,
        kind: 'write',
        epoch: 1,
        seq: i,
        requestId: `w-${i}`,
        write: { op: 'insert', table: 'users', values: { username: `u${i}`, password: 'ab'.repeat(20) } },
        result: { changes: 1, seq: i, epoch: 1 },
      });
    }
    await until(() => store.appliedSeq === 5, 5000, 'the replica at seq 5');
  });
  afterEach(async () => {
    for (const queue of [...names.allQueues(), names.syncLog]) await channel.deleteQueue(queue).catch(() => undefined);
    await channel.deleteExchange(names.syncExchange).catch(() => undefined);
    await connection.close().catch(() => undefined);
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function publish(message: unknown): void {
    const content = encode(message);
    // As the master publishes: to its epoch's exchange, bound to the fanout.
    channel.publish(names.syncExchange, '', content, master.seal({ to: names.syncExchange, expiresAt: 0 }, content));
  }

  const mark = (epoch: number, seq?: number): SyncEpoch => ({ v: PROTOCOL_VERSION, kind: 'epoch', epoch, masterId: 'new-master', ...(seq === undefined ? {} : { seq }) });

  it('a replica ahead of the promoted master is caught after the fence mark of the same epoch', async () => {
    publish(mark(2));
    publish(mark(2, 3));
    await until(() => broken.length > 0, 5000, 'the replica to find it diverged');
    expect(broken[0]).toMatch(/diverged/);
  });

  it('the same position mark seen again is a repeat, another position for the epoch is not', async () => {
    publish(mark(2));
    publish(mark(2, 5));
    publish(mark(2, 5));
    await until(() => (epochs.filter((epoch) => epoch === 2).length === 3 ? true : undefined), 5000, 'three marks processed');
    expect(broken).toEqual([]);
    publish(mark(2, 4));
    await until(() => broken.length > 0, 5000, 'a second position for epoch 2 refused');
    expect(broken[0]).toMatch(/diverged/);
  });

  it('a signed sync message of another protocol version stops the replica loudly instead of being skipped', async () => {
    publish({ v: PROTOCOL_VERSION + 1, kind: 'group', epoch: 1, writes: [] });
    await until(() => broken.length > 0, 5000, 'the replica to stop');
    expect(broken[0]).toMatch(/cannot read/);
    expect(store.appliedSeq).toBe(5);
  });

  it('an unsigned one is refused and the replica follows on', async () => {
    const content = encode({ v: PROTOCOL_VERSION + 1, kind: 'group', epoch: 1, writes: [] });
    channel.publish(names.syncExchange, '', content);
    publish(mark(1, 5));
    await until(() => (epochs.includes(1) ? true : undefined), 5000, 'the next message processed');
    expect(broken).toEqual([]);
  });
});
