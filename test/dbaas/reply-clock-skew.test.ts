/**
 * A worker's reply does not depend on the worker's clock agreeing with its asker's: a slave whose
 * wall clock reads 30 s behind the orchestrator's (an NTP step on its host) answers with the same
 * `sendReply` the workers use, and the orchestrator's RPC client takes the answer. Without an
 * expiry, a replay stays harmless: the same signed reply published again while another question
 * is in flight is not taken for it (it answers a question no longer in flight), so that call
 * waits for its deadline. The client runs in this process against the real broker; the slave is
 * a consumer of readQ in this test.
 */
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { testServers } from '../../harness/inject.ts';
import { testSigner } from '../../harness/signing.ts';
import { RpcClient } from '../../src/dbaas/orchestrator/RpcClient.ts';
import { encode, PROTOCOL_VERSION } from '../../src/dbaas/protocol/messages.ts';
import { clusterNames, type ClusterNames } from '../../src/dbaas/protocol/names.ts';
import { decodeReadResult } from '../../src/dbaas/protocol/results.ts';
import { sendReply } from '../../src/dbaas/transport/replies.ts';
import { assertTopology } from '../../src/dbaas/transport/topology.ts';
import { createLogger } from '../../src/shared/logger.ts';

const slave = testSigner.as('slave', 'skewed-slave');
const SKEW_MS = 30_000;
const RESULT = { rows: [{ username: 'a' }], seq: 1, worker: 'skewed-slave' };

/** Runs `send` while this process's wall clock reads `offsetMs` from the true time (what the slave's host would read). */
function withClockOffset(offsetMs: number, send: () => void): void {
  const trueNow = Date.now();
  const clock = vi.spyOn(Date, 'now').mockReturnValue(trueNow + offsetMs);
  try {
    send();
  } finally {
    clock.mockRestore();
  }
}

describe('a reply from a worker whose clock is stepped', () => {
  let names: ClusterNames;
  let rpc: RpcClient;
  let connection: ChannelModel;
  let channel: Channel;
  /** The questions the slave was asked, in order; it answers each unless told to stay silent. */
  let asked: ConsumeMessage[];
  let silent: boolean;
  let offsetMs: number;

  beforeEach(async () => {
    names = clusterNames(uniqueClusterName('reply-skew'));
    asked = [];
    silent = false;
    offsetMs = 0;
    connection = await amqp.connect(testServers().amqpUrl);
    await assertTopology(connection, names);
    channel = await connection.createChannel();
    await channel.consume(
      names.readQ,
      (message) => {
        if (!message) return;
        asked.push(message);
        channel.ack(message);
        if (silent) return;
        const content = encode({ v: PROTOCOL_VERSION, ok: true, result: RESULT });
        withClockOffset(offsetMs, () => sendReply(channel, slave, message, content));
      },
      { noAck: false },
    );
    rpc = new RpcClient({ amqpUrl: testServers().amqpUrl, names, timeoutMs: 3000, signer: testSigner, logger: createLogger('rpc', 'silent') });
    await rpc.start();
  });

  afterEach(async () => {
    await rpc.close();
    const cleanup = await connection.createChannel();
    for (const queue of names.allQueues()) await cleanup.deleteQueue(queue).catch(() => undefined);
    await connection.close().catch(() => undefined);
  });

  const read = () => rpc.call(names.readQ, { v: PROTOCOL_VERSION, kind: 'read', query: { table: 'users' } }, decodeReadResult);

  it('is taken when the worker reads 30 s behind the orchestrator', async () => {
    offsetMs = -SKEW_MS;
    await expect(read()).resolves.toEqual(RESULT);
  });

  it('is taken when the worker reads 30 s ahead of the orchestrator', async () => {
    offsetMs = SKEW_MS;
    await expect(read()).resolves.toEqual(RESULT);
  });

  it('replayed while another question is in flight, is not taken for it', async () => {
    await expect(read()).resolves.toEqual(RESULT);
    const first = asked[0] as ConsumeMessage;
    silent = true;
    const second = read();
    await vi.waitFor(() => expect(asked).toHaveLength(2), { timeout: 3000 });
    // The first question's signed answer, sent again: valid, but to a question no longer in flight.
    sendReply(channel, slave, first, encode({ v: PROTOCOL_VERSION, ok: true, result: { ...RESULT, rows: [{ username: 'replayed' }] } }));
    await expect(second).rejects.toMatchObject({ code: 'TIMEOUT' });
  });
});
