/**
 * A ZooKeeper client whose server went silent reconnects through the next server of its list
 * even when one on the way accepts the connection and never answers it (a frozen host: its kernel
 * accepts, its server answers nothing), keeping its session (src/dbaas/coordination/HandshakeWatch.ts).
 * Three servers in the order given, each the test run's ZooKeeper behind a proxy: the one the
 * client uses is partitioned, the next accepts silently, the third passes.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { TcpProxy } from '../../harness/faults/tcp-proxy.ts';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';
import { ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';

const SESSION_TIMEOUT_MS = 4000;

let proxies: TcpProxy[];
let client: ZkClient;

beforeEach(async () => {
  const [host, port] = testServers().zkConnect.split(',')[0]!.split(':');
  proxies = [0, 1, 2].map(() => new TcpProxy({ targetHost: host, targetPort: Number(port) }));
  await Promise.all(proxies.map((proxy) => proxy.start()));
  client = new ZkClient({ connect: proxies.map((proxy) => `127.0.0.1:${proxy.port}`).join(','), sessionTimeoutMs: SESSION_TIMEOUT_MS, operationTimeoutMs: 8000 });
  await client.connect();
});

afterEach(async () => {
  client.close();
  await Promise.all(proxies.map((proxy) => proxy.stop()));
});

it('keeps its session past a server that accepts and never answers', async () => {
  const [first, frozen] = proxies as [TcpProxy, TcpProxy, TcpProxy];
  // The client is on the first server (the order is kept): no link through the others yet.
  expect(first.list().length).toBe(1);
  let expired = false;
  let disconnected = false;
  let reconnected = false;
  client.on('expired', () => (expired = true));
  client.on('disconnected', () => (disconnected = true));
  client.on('connected', () => (reconnected = disconnected));
  first.acceptSilently(true);
  frozen.acceptSilently(true);
  first.partition(first.list().map((link) => link.clientPort));

  await until(() => reconnected || expired, 3 * SESSION_TIMEOUT_MS, 'the client to reconnect or lose its session');
  expect(expired).toBe(false);
  // It did go through the silent server on its way.
  expect(frozen.silentCount).toBeGreaterThan(0);
  expect(await client.exists('/')).not.toBeNull();
});
