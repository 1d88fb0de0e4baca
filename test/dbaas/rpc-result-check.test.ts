/**
 * The orchestrator's RPC client takes a worker's result only once its decoder has checked it
 * (src/dbaas/protocol/results.ts): a signed slave answering a read with something that is not a
 * read result makes that call fail INTERNAL, and the other calls of its batch with it (the reply
 * is refused as a malformed one), while a well-formed answer resolves. The client runs in this
 * process against the real broker; the slave is a consumer of readQ in this test.
 */
import amqp, { type ChannelModel } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { testServers } from '../../harness/inject.ts';
import { testSigner } from '../../harness/signing.ts';
import { RpcClient } from '../../src/dbaas/orchestrator/RpcClient.ts';
import { decodeCommands, encode, PROTOCOL_VERSION } from '../../src/dbaas/protocol/messages.ts';
import { clusterNames, type ClusterNames } from '../../src/dbaas/protocol/names.ts';
import { decodeReadResult } from '../../src/dbaas/protocol/results.ts';
import { assertTopology } from '../../src/dbaas/transport/topology.ts';
import { createLogger } from '../../src/shared/logger.ts';

const slave = testSigner.as('slave', 'fake-slave');

describe('a worker result is checked before it is taken', () => {
  let names: ClusterNames;
  let rpc: RpcClient;
  let connection: ChannelModel;

  beforeEach(async () => {
    names = clusterNames(uniqueClusterName('result-check'));
    connection = await amqp.connect(testServers().amqpUrl);
    await assertTopology(connection, names);
    const channel = await connection.createChannel();
    // Answers a read of table `users` with a good result, any other with rows that are not rows.
    await channel.consume(
      names.readQ,
      (message) => {
        if (!message) return;
        const { commands } = decodeCommands(message.content);
        const results = commands.map((command) => {
          const good = !(command instanceof Error) && command.kind === 'read' && command.query.table === 'users';
          return { v: PROTOCOL_VERSION, ok: true, result: good ? { rows: [{ username: 'a' }], seq: 1, worker: 'fake-slave' } : { rows: 'not rows', seq: 1, worker: 'fake-slave' } };
        });
        const content = encode(commands.length > 1 ? { v: PROTOCOL_VERSION, ok: true, result: results } : results[0]);
        const replyTo = message.properties.replyTo as string;
        const correlationId = message.properties.correlationId as string;
        channel.sendToQueue(replyTo, content, slave.seal({ to: replyTo, correlationId, expiresAt: Date.now() + 10_000 }, content));
        channel.ack(message);
      },
      { noAck: false },
    );
    rpc = new RpcClient({ amqpUrl: testServers().amqpUrl, names, timeoutMs: 5000, signer: testSigner, logger: createLogger('rpc', 'silent') });
    await rpc.start();
  });

  afterEach(async () => {
    await rpc.close();
    const channel = await connection.createChannel();
    for (const queue of names.allQueues()) await channel.deleteQueue(queue).catch(() => undefined);
    await connection.close().catch(() => undefined);
  });

  const read = (table: 'users' | 'rides') => rpc.call(names.readQ, { v: PROTOCOL_VERSION, kind: 'read', query: { table } }, decodeReadResult);

  it('a well-formed result resolves, checked', async () => {
    await expect(read('users')).resolves.toEqual({ rows: [{ username: 'a' }], seq: 1, worker: 'fake-slave' });
  });

  it('a result of the wrong shape is an INTERNAL error, not a value of the wrong type', async () => {
    await expect(read('rides')).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('a read result must have rows') });
  });

  it('in a batch, a malformed result refuses the whole reply: every call of it fails INTERNAL', async () => {
    const outcomes = await Promise.allSettled([read('users'), read('rides')]);
    expect(outcomes.map((outcome) => (outcome.status === 'rejected' ? (outcome.reason as { code?: string }).code : 'ok'))).toEqual(['INTERNAL', 'INTERNAL']);
  });
});
