/**
 * The master answers nothing of a group before the writes it rests on are confirmed: a 409 for a
 * username taken by a write of the same group means nothing if that write never reaches the
 * replicas. The master runs in this process against the real broker; its epoch's exchange is
 * deleted first (as a newer master fences it), so no confirm can ever come.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { testServers } from '../../harness/inject.ts';
import { staysTrue, until } from '../../harness/replicas.ts';
import { testSigner } from '../../harness/signing.ts';
import { encode, PROTOCOL_VERSION, type DbCommand } from '../../src/dbaas/protocol/messages.ts';
import { decodeReply, type Reply } from '../../src/dbaas/protocol/reply.ts';
import { clusterNames, type ClusterNames } from '../../src/dbaas/protocol/names.ts';
import { openEpoch } from '../../src/dbaas/replication/epoch-fence.ts';
import { assertSyncLog, assertTopology } from '../../src/dbaas/transport/topology.ts';
import { MasterRole } from '../../src/dbaas/worker/MasterRole.ts';
import { Store } from '../../src/dbaas/worker/Store.ts';
import { createLogger } from '../../src/shared/logger.ts';

const password = 'fe'.repeat(20);

describe('answers of a group wait for its confirm', () => {
  let connection: ChannelModel;
  let client: Channel;
  let names: ClusterNames;
  let dir: string;
  let store: Store;
  let replyQueue: string;
  const answers = new Map<string, Reply<unknown>>();

  beforeEach(async () => {
    connection = await amqp.connect(testServers().amqpUrl);
    names = clusterNames(uniqueClusterName('unconfirmed'));
    client = await connection.createChannel();
    await assertTopology(connection, names);
    await assertSyncLog(connection, names);
    await openEpoch(connection, names, 1, 0);
    replyQueue = (await client.assertQueue('', { exclusive: true })).queue;
    await client.consume(replyQueue, (message) => message && answers.set(message.properties.correlationId as string, decodeReply(message.content)), { noAck: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-unconfirmed-'));
    store = new Store(path.join(dir, 'master.db'));
  });
  afterEach(async () => {
    for (const queue of [...names.allQueues(), names.syncLog]) await client.deleteQueue(queue).catch(() => undefined);
    await client.deleteExchange(names.syncExchange).catch(() => undefined);
    await connection.close().catch(() => undefined);
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

  it('a 409 that rests on an unconfirmed write of the same group is never sent', async () => {
    const fatal: string[] = [];
    const master = new MasterRole({
      connection,
      names,
      store,
      epoch: 1,
      workerId: 'in-test-master',
      signer: testSigner,
      logger: createLogger('in-test-master', 'silent'),
      // Not what this test is about: every commit record succeeds at once.
      recordCommit: async () => undefined,
      onFatal: (reason) => fatal.push(reason),
    });
    await master.start();
    // Fenced: this master's publishes can no longer be routed or confirmed.
    await client.deleteExchange(names.syncEpochExchange(1));
    send('first-carol', 'carol');
    send('second-carol', 'carol');
    await until(() => fatal.length > 0, 10_000, 'the fenced master to stop');
    // A wrongly sent answer would follow within moments of the stop.
    await staysTrue(() => answers.size === 0, 500, 'no answer from the fenced master');
  });
});
