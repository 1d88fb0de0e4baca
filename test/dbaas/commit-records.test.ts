/**
 * The master's epoch-checked commit records (src/dbaas/coordination/commit-record.ts), with a
 * master running in this process against the real broker and ZooKeeper: each answered write is
 * covered by a record of the master's epoch, and once /epoch is bumped behind the master's back
 * (as a successor's lease does) its next record is refused, it stops and answers nothing more.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { testServers } from '../../harness/inject.ts';
import { staysTrue, until } from '../../harness/replicas.ts';
import { testSigner } from '../../harness/signing.ts';
import { TEST_ZK_AUTH } from '../../harness/zk-auth.ts';
import { readCommitRecord, writeCommitRecord } from '../../src/dbaas/coordination/commit-record.ts';
import { acquireMasterLease, type MasterLease } from '../../src/dbaas/coordination/master-lease.ts';
import { countRecord } from '../../src/dbaas/coordination/records.ts';
import { ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';
import { encode, PROTOCOL_VERSION, type DbCommand } from '../../src/dbaas/protocol/messages.ts';
import { clusterNames, clusterPaths, type ClusterNames } from '../../src/dbaas/protocol/names.ts';
import { decodeReply, type Reply } from '../../src/dbaas/protocol/reply.ts';
import { openEpoch } from '../../src/dbaas/replication/epoch-fence.ts';
import { assertSyncLog, assertTopology } from '../../src/dbaas/transport/topology.ts';
import { MasterRole } from '../../src/dbaas/worker/MasterRole.ts';
import { Store } from '../../src/dbaas/worker/Store.ts';
import { createLogger } from '../../src/shared/logger.ts';

const password = 'cd'.repeat(20);

describe('a master records its commits in ZooKeeper under its epoch', () => {
  let connection: ChannelModel;
  let client: Channel;
  let zk: ZkClient;
  let cluster: string;
  let names: ClusterNames;
  let dir: string;
  let store: Store;
  let replyQueue: string;
  let lease: MasterLease;
  const answers = new Map<string, Reply<unknown>>();
  const fatal: string[] = [];
  let master: MasterRole;

  beforeEach(async () => {
    answers.clear();
    fatal.length = 0;
    cluster = uniqueClusterName('commits');
    names = clusterNames(cluster);
    connection = await amqp.connect(testServers().amqpUrl);
    client = await connection.createChannel();
    await assertTopology(connection, names);
    await assertSyncLog(connection, names);
    zk = new ZkClient({ connect: testServers().zkConnect, sessionTimeoutMs: 4000, credentials: TEST_ZK_AUTH });
    await zk.connect();
    await zk.ensurePath(clusterPaths(cluster).committed);
    lease = await acquireMasterLease(zk, cluster, { workerId: 'in-test-master', pid: process.pid, localEpoch: 0 });
    await openEpoch(connection, names, lease.record.epoch, 0);
    replyQueue = (await client.assertQueue('', { exclusive: true })).queue;
    await client.consume(replyQueue, (message) => message && answers.set(message.properties.correlationId as string, decodeReply(message.content)), { noAck: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-commits-'));
    store = new Store(path.join(dir, 'master.db'));
    master = new MasterRole({
      connection,
      names,
      store,
      epoch: lease.record.epoch,
      workerId: 'in-test-master',
      signer: testSigner,
      logger: createLogger('in-test-master', 'silent'),
      recordCommit: (seq) => writeCommitRecord(zk, cluster, lease.epochVersion, { epoch: lease.record.epoch, seq }),
      onFatal: (reason) => fatal.push(reason),
    });
    await master.start();
  });
  afterEach(async () => {
    await master.stopTakingWrites();
    for (const queue of [...names.allQueues(), names.syncLog]) await client.deleteQueue(queue).catch(() => undefined);
    await client.deleteExchange(names.syncEpochExchange(lease.record.epoch)).catch(() => undefined);
    await client.deleteExchange(names.syncExchange).catch(() => undefined);
    await connection.close().catch(() => undefined);
    const paths = clusterPaths(cluster);
    for (const node of [paths.master, paths.committed, paths.epoch]) await zk.removeIfExists(node);
    // The base lets anyone create a cluster's node but only its owner delete one: it may stay.
    await zk.removeIfExists(paths.root).catch(() => undefined);
    zk.close();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function send(requestId: string, username: string): void {
    const command: DbCommand = { v: PROTOCOL_VERSION, kind: 'write', requestId, write: { op: 'insert', table: 'users', values: { username, password } }, deadline: Date.now() + 30_000 };
    const content = encode(command);
    client.sendToQueue(names.writeQ, content, {
      ...testSigner.seal({ to: names.writeQ, replyTo: replyQueue, correlationId: requestId, expiresAt: Date.now() + 30_000 }, content),
      expiration: '30000',
    });
  }

  it('starts with a record of its own applied seq, and every answered write is covered by a record of its epoch', async () => {
    expect(await readCommitRecord(zk, cluster)).toEqual({ epoch: lease.record.epoch, seq: 0 });
    send('one', 'ann');
    await until(() => answers.has('one'), 10_000, 'the first answer');
    expect(answers.get('one')).toMatchObject({ ok: true, result: { seq: 1, epoch: lease.record.epoch } });
    expect(await readCommitRecord(zk, cluster)).toEqual({ epoch: lease.record.epoch, seq: 1 });
    // Many at once: several groups, fewer records (one in flight at a time), the last covering them all.
    for (let i = 0; i < 60; i += 1) send(`burst-${i}`, `user-${i}`);
    await until(() => answers.size === 61, 10_000, 'every answer of the burst');
    expect(store.appliedSeq).toBe(61);
    expect(await readCommitRecord(zk, cluster)).toEqual({ epoch: lease.record.epoch, seq: 61 });
    expect(fatal).toEqual([]);
  });

  it('once /epoch is bumped behind its back, its next record is refused: it stops and answers nothing more', async () => {
    send('before', 'bea');
    await until(() => answers.has('before'), 10_000, 'the answer before the bump');
    // What a successor's lease does first: the next epoch, by compare-and-set on /epoch.
    const epochNode = await zk.readNode(clusterPaths(cluster).epoch, countRecord);
    await zk.setData(clusterPaths(cluster).epoch, (epochNode.data ?? 0) + 1, epochNode.version);
    for (let i = 0; i < 5; i += 1) send(`after-${i}`, `late-${i}`);
    await until(() => fatal.length > 0, 10_000, 'the fenced master to stop');
    expect(fatal[0]).toMatch(/no longer at version/);
    // The writes were applied and even confirmed by the broker, but never recorded: never answered.
    expect(store.appliedSeq).toBeGreaterThan(1);
    await staysTrue(() => answers.size === 1, 500, 'no answer after the fence');
    expect(await readCommitRecord(zk, cluster)).toEqual({ epoch: lease.record.epoch, seq: 1 });
    // A ZooKeeper reconnection would resume a paused master: a halted one takes nothing.
    await master.takeWrites();
    send('much-later', 'zed');
    await staysTrue(() => !answers.has('much-later'), 500, 'no answer from a halted master');
  });
});
