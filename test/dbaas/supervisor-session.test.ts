/**
 * A supervisor acts only under the lease it holds at that moment: its ZooKeeper client is pinned
 * to the session the lease belongs to. Once that session is lost, nothing issued through the pin
 * runs, not even after the client has opened a new session (the lease died with the old one);
 * and while the link is down the pin says the lease is in doubt. The link is partitioned through
 * the link-fault proxy in front of the test run's ZooKeeper.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';
import { TcpProxy } from '../../harness/faults/tcp-proxy.ts';
import { isZkError, ZkClient, ZkErrorCode } from '../../src/dbaas/coordination/ZkClient.ts';

describe('a ZooKeeper client pinned to one session', () => {
  let proxy: TcpProxy;
  let client: ZkClient;

  beforeEach(async () => {
    const [host, port] = testServers().zkConnect.split(',')[0]!.split(':');
    proxy = new TcpProxy({ targetHost: host, targetPort: Number(port) });
    await proxy.start();
    client = new ZkClient({ connect: `127.0.0.1:${proxy.port}`, sessionTimeoutMs: 1000, operationTimeoutMs: 8000, renew: true });
    await client.connect();
  });
  afterEach(async () => {
    client.close();
    await proxy.stop();
  });

  it('refuses every operation after its session is lost, queued ones included, while the renewed client works', async () => {
    const pinned = client.pinnedToSession();
    expect(pinned.holdsSession()).toBe(true);
    expect(await pinned.exists('/')).not.toBeNull();

    let renewed = false;
    let expired = false;
    client.on('renewed', () => (renewed = true));
    client.on('expired', () => (expired = true));
    // A partition: the link goes silent and a reconnection is never answered either (a client
    // that reconnected in time would rightly keep its session).
    proxy.acceptSilently(true);
    proxy.partition(proxy.list().map((link) => link.clientPort));
    await until(() => !pinned.holdsSession(), 5000, 'the pin to see its session in doubt');
    // Issued while the link is down: it waits for the link, and must not run on a new session.
    const queued = pinned.exists('/').then(
      () => 'ran',
      (error: unknown) => (isZkError(error, ZkErrorCode.SESSION_EXPIRED) ? 'refused' : `failed: ${String(error)}`),
    );
    await until(() => expired, 10_000, 'the client to declare its session lost');
    proxy.acceptSilently(false);
    proxy.heal();
    await until(() => renewed, 15_000, 'a new session');
    expect(await client.exists('/')).not.toBeNull();
    expect(await queued).toBe('refused');
    await expect(pinned.exists('/')).rejects.toSatisfy((error: unknown) => isZkError(error, ZkErrorCode.SESSION_EXPIRED));
    expect(pinned.holdsSession()).toBe(false);
    expect(client.pinnedToSession().holdsSession()).toBe(true);
  });
});
