/**
 * A 503 for a write means it can no longer be applied (docs/guarantees.md). The orchestrator's
 * RPC client runs in this process against the real broker, through the link-fault proxy, with
 * nobody taking writes: when its own broker connection is lost, or its clock is stepped back, a
 * write is not failed before its deadline has passed; a read is failed at once.
 */
import { URL } from 'node:url';
import amqp from 'amqplib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { TcpProxy } from '../../harness/faults/tcp-proxy.ts';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';
import { testSigner } from '../../harness/signing.ts';
import { PROTOCOL_VERSION } from '../../src/dbaas/protocol/messages.ts';
import { decodeReadResult, decodeWriteResult } from '../../src/dbaas/protocol/results.ts';
import { clusterNames, type ClusterNames } from '../../src/dbaas/protocol/names.ts';
import { RpcClient } from '../../src/dbaas/orchestrator/RpcClient.ts';
import { createLogger } from '../../src/shared/logger.ts';

const TIMEOUT_MS = 1500;

describe('when a write is answered 503', () => {
  let proxy: TcpProxy;
  let rpc: RpcClient;
  let names: ClusterNames;

  beforeEach(async () => {
    const broker = new URL(testServers().amqpUrl);
    proxy = new TcpProxy({ targetHost: broker.hostname, targetPort: Number(broker.port || 5672) });
    await proxy.start();
    broker.host = `127.0.0.1:${proxy.port}`;
    names = clusterNames(uniqueClusterName('deadlines'));
    rpc = new RpcClient({ amqpUrl: broker.toString(), names, timeoutMs: TIMEOUT_MS, signer: testSigner, logger: createLogger('rpc', 'silent') });
    await rpc.start();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rpc.close();
    await proxy.stop();
  });

  async function messagesIn(queue: string): Promise<number> {
    const connection = await amqp.connect(testServers().amqpUrl, { timeout: 5000 });
    try {
      const channel = await connection.createChannel();
      return (await channel.checkQueue(queue)).messageCount;
    } finally {
      await connection.close();
    }
  }

  function write() {
    const deadline = rpc.writeDeadline();
    const answered = rpc
      .call(
        names.writeQ,
        { v: PROTOCOL_VERSION, kind: 'write', requestId: `w-${Date.now()}`, write: { op: 'insert', table: 'users', values: { username: 'late', password: 'ab'.repeat(20) } }, deadline },
        decodeWriteResult,
      )
      .then(
        () => ({ at: Date.now(), code: 'ok' }),
        (error: { code?: string }) => ({ at: Date.now(), code: error.code }),
      );
    return { deadline, answered };
  }

  it('its own broker connection lost: the write is failed only after its deadline, a read at once', async () => {
    const { deadline, answered } = write();
    const read = rpc.call(names.readQ, { v: PROTOCOL_VERSION, kind: 'read', query: { table: 'users' } }, decodeReadResult).then(
      () => ({ at: Date.now(), code: 'ok' }),
      (error: { code?: string }) => ({ at: Date.now(), code: error.code }),
    );
    // Both are in their queues (asked of the broker directly, not through the proxy) before the cut.
    await until(async () => ((await messagesIn(names.writeQ)) === 1 && (await messagesIn(names.readQ)) === 1 ? true : undefined), 10_000, 'both calls queued');
    const cutAt = Date.now();
    proxy.cut(proxy.list().map((link) => link.clientPort));
    const readOutcome = await read;
    expect(readOutcome.code).toBe('UNAVAILABLE');
    expect(readOutcome.at - cutAt).toBeLessThan(deadline - cutAt);
    const writeOutcome = await answered;
    expect(writeOutcome.code).toBe('UNAVAILABLE');
    expect(writeOutcome.at).toBeGreaterThan(deadline);
  });

  it('its clock stepped back by 2 s after the write left: the 503 waits until the clock is past the deadline again', async () => {
    const { deadline, answered } = write();
    const realNow = Date.now.bind(Date);
    const sentAt = realNow();
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 2000);
    const outcome = await answered;
    expect(outcome.code).toBe('TIMEOUT');
    // By the stepped clock (the one a master on this host reads too) the deadline has passed.
    expect(outcome.at).toBeGreaterThan(deadline);
    expect(realNow() - sentAt).toBeGreaterThan(TIMEOUT_MS + 1500);
  });
});
