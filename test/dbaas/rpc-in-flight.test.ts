/**
 * The orchestrator's RPC client keeps a few messages of one queue in flight at most: the calls
 * made past that wait for an answer and then leave together as one batch message, or leave
 * anyway once they have waited MAX_HOLD_MS (a worker that holds every message must not hold the
 * calls behind them for a whole timeout). The client runs in this process against the real
 * broker; the slave is a consumer of readQ in this test that answers only when told to.
 */
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
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
import { waitFor } from '../../src/shared/processes.ts';

const slave = testSigner.as('slave', 'fake-slave');
/** MESSAGES_IN_FLIGHT.read in RpcClient.ts. */
const READ_MESSAGES_IN_FLIGHT = 8;

describe('messages of one queue in flight', () => {
  let names: ClusterNames;
  let rpc: RpcClient;
  let connection: ChannelModel;
  let channel: Channel;
  /** Every read message the fake slave took, in order, with how many calls it carried. */
  let taken: { message: ConsumeMessage; calls: number }[];

  const answer = (entry: { message: ConsumeMessage; calls: number }) => {
    const results = Array.from({ length: entry.calls }, () => ({ v: PROTOCOL_VERSION, ok: true, result: { rows: [], seq: 1, worker: 'fake-slave' } }));
    const content = encode(entry.calls > 1 ? { v: PROTOCOL_VERSION, ok: true, result: results } : results[0]);
    const replyTo = entry.message.properties.replyTo as string;
    const correlationId = entry.message.properties.correlationId as string;
    channel.sendToQueue(replyTo, content, slave.seal({ to: replyTo, correlationId, expiresAt: Date.now() + 10_000 }, content));
    channel.ack(entry.message);
  };

  beforeEach(async () => {
    names = clusterNames(uniqueClusterName('in-flight'));
    taken = [];
    connection = await amqp.connect(testServers().amqpUrl);
    await assertTopology(connection, names);
    channel = await connection.createChannel();
    await channel.consume(names.readQ, (message) => {
      if (message) taken.push({ message, calls: decodeCommands(message.content).commands.length });
    });
    rpc = new RpcClient({ amqpUrl: testServers().amqpUrl, names, timeoutMs: 10_000, signer: testSigner, logger: createLogger('rpc', 'silent') });
    await rpc.start();
  });

  afterEach(async () => {
    await rpc.close();
    const cleanup = await connection.createChannel();
    for (const queue of names.allQueues()) await cleanup.deleteQueue(queue).catch(() => undefined);
    await connection.close().catch(() => undefined);
  });

  const read = () => rpc.call(names.readQ, { v: PROTOCOL_VERSION, kind: 'read', query: { table: 'users' } }, decodeReadResult);
  /** One read per turn of the event loop: each would leave as a message of its own. */
  async function readsInTurns(count: number): Promise<Promise<unknown>[]> {
    const calls: Promise<unknown>[] = [];
    for (let index = 0; index < count; index += 1) {
      calls.push(read());
      await new Promise((resolve) => setImmediate(resolve));
    }
    return calls;
  }

  it('past the limit, calls wait for an answer and then leave together as one message', async () => {
    const first = await readsInTurns(READ_MESSAGES_IN_FLIGHT);
    expect(await waitFor(() => taken.length === READ_MESSAGES_IN_FLIGHT, 5000)).toBe(true);
    const held = await readsInTurns(20);
    // Well under MAX_HOLD_MS: nothing more leaves while every slot is taken.
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(taken.length).toBe(READ_MESSAGES_IN_FLIGHT);

    answer(taken[0] as (typeof taken)[number]);
    expect(await waitFor(() => taken.length === READ_MESSAGES_IN_FLIGHT + 1, 5000)).toBe(true);
    expect(taken.at(-1)?.calls).toBe(20);
    for (const entry of taken.slice(1)) answer(entry);
    await expect(Promise.all([...first, ...held])).resolves.toHaveLength(READ_MESSAGES_IN_FLIGHT + 20);
  });

  it('calls held with no answer coming leave anyway, within a moment, not at the timeout', async () => {
    const first = await readsInTurns(READ_MESSAGES_IN_FLIGHT);
    expect(await waitFor(() => taken.length === READ_MESSAGES_IN_FLIGHT, 5000)).toBe(true);
    const heldAt = performance.now();
    const held = read();
    expect(await waitFor(() => taken.length === READ_MESSAGES_IN_FLIGHT + 1, 5000)).toBe(true);
    expect(performance.now() - heldAt).toBeLessThan(2000);
    answer(taken.at(-1) as (typeof taken)[number]);
    await expect(held).resolves.toMatchObject({ worker: 'fake-slave' });
    for (const entry of taken.slice(0, READ_MESSAGES_IN_FLIGHT)) answer(entry);
    await expect(Promise.all(first)).resolves.toHaveLength(READ_MESSAGES_IN_FLIGHT);
  });
});
