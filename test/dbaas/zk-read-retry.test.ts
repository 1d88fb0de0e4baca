/**
 * A read whose connection drops while it is out is asked again once the link is back on the same
 * session, so its caller gets the answer instead of CONNECTION_LOSS; a write lost that way is
 * not sent again, and a read whose session ends meanwhile fails (src/dbaas/coordination/read-retry.ts).
 * The client reaches the test run's ZooKeeper through a proxy: the server's answers are held
 * back, the request is seen through, then the link is cut, so the library fails the request
 * in flight with CONNECTION_LOSS and reconnects through the proxy on the same session.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { TcpProxy } from '../../harness/faults/tcp-proxy.ts';
import { testServers } from '../../harness/inject.ts';
import { until } from '../../harness/replicas.ts';
import { CreateMode, isZkError, ZkClient, ZkErrorCode } from '../../src/dbaas/coordination/ZkClient.ts';

/** Long enough for the session to outlive a reconnection on a loaded machine. */
const SESSION_TIMEOUT_MS = 4000;
const ROOT = `/zkretry-read-retry-${process.pid}`;
/**
 * The node read through the cut: a name long enough that its request alone outweighs the link
 * watch's small questions, so the bytes seen going to the server are the read's.
 */
const NODE = `${ROOT}/${'n'.repeat(200)}`;

let proxy: TcpProxy;
let client: ZkClient;
/** Straight to ZooKeeper: sets up nodes and sees what a write through the proxy did. */
let direct: ZkClient;
let seen: { disconnected: number; connected: number; expired: number };

/** A client through the proxy, connected; `seen` counts its events from then on. */
async function open(sessionTimeoutMs: number): Promise<ZkClient> {
  const opened = new ZkClient({ connect: `127.0.0.1:${proxy.port}`, sessionTimeoutMs, operationTimeoutMs: 3 * SESSION_TIMEOUT_MS });
  await opened.connect();
  seen = { disconnected: 0, connected: 0, expired: 0 };
  for (const event of ['disconnected', 'connected', 'expired'] as const) opened.on(event, () => (seen[event] += 1));
  return opened;
}

beforeEach(async () => {
  const [host, port] = testServers().zkConnect.split(',')[0]!.split(':');
  proxy = new TcpProxy({ targetHost: host, targetPort: Number(port) });
  await proxy.start();
  direct = new ZkClient({ connect: testServers().zkConnect, sessionTimeoutMs: SESSION_TIMEOUT_MS });
  await direct.connect();
  await direct.ensurePath(ROOT);
  await direct.create(NODE, { fare: 12 }, CreateMode.PERSISTENT);
  client = await open(SESSION_TIMEOUT_MS);
});

afterEach(async () => {
  client.close();
  await proxy.stop();
  for (const child of await direct.getChildrenIfExists(ROOT)) await direct.removeIfExists(`${ROOT}/${child}`);
  await direct.removeIfExists(ROOT);
  direct.close();
});

/**
 * Starts `operation` with the server's answers held back, waits until `reachedServer` says its
 * request got through, then cuts the link: the operation is in flight when the connection drops.
 */
async function cutWhileInFlight<T>(operation: () => Promise<T>, reachedServer: (sentBytes: number) => Promise<boolean> | boolean): Promise<PromiseSettledResult<T>> {
  const [link] = proxy.list();
  if (!link || proxy.list().length !== 1) throw new Error(`expected the client's one link through the proxy, found ${proxy.list().length}`);
  proxy.set([link.clientPort], ['to-client'], { mode: 'pause' });
  const sentBefore = link.bytes['to-server'];
  const outcome = operation().then(
    (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
    (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
  );
  const sentSince = () => (proxy.list().find((each) => each.id === link.id)?.bytes['to-server'] ?? 0) - sentBefore;
  await until(() => reachedServer(sentSince()), SESSION_TIMEOUT_MS, 'the request to go through to the server');
  proxy.cut([link.clientPort]);
  return outcome;
}

it('answers a read whose connection dropped while it was out, on the same session', async () => {
  const outcome = await cutWhileInFlight(
    () => client.getData<{ fare: number }>(NODE),
    (sentBytes) => sentBytes > NODE.length,
  );

  expect(outcome).toEqual({ status: 'fulfilled', value: { data: { fare: 12 }, version: 0 } });
  // The link did go down and come back, and the session outlived it.
  expect(seen.disconnected).toBe(1);
  expect(seen.connected).toBe(1);
  expect(seen.expired).toBe(0);
  expect(client.holdsSession()).toBe(true);
});

it('sets the watcher of a read asked again once, on the connection that answered', async () => {
  const fired: string[] = [];
  const outcome = await cutWhileInFlight(
    () => client.exists(NODE, (event) => fired.push(event.getName())),
    (sentBytes) => sentBytes > NODE.length,
  );
  expect(outcome.status).toBe('fulfilled');

  await direct.setData(NODE, { fare: 13 });
  await until(() => fired.length > 0, SESSION_TIMEOUT_MS, 'the watcher to fire');
  // A second change, then a round trip on the client's connection behind its notification: nothing more.
  await direct.setData(NODE, { fare: 14 });
  await client.getData(NODE);
  expect(fired).toEqual(['NODE_DATA_CHANGED']);
});

it('does not send again a write whose connection dropped after the server applied it', async () => {
  const created = `${ROOT}/created-through-the-cut`;
  const outcome = await cutWhileInFlight(
    () => client.create(created, { rider: 'r-1' }, CreateMode.PERSISTENT),
    async () => (await direct.exists(created)) !== null,
  );

  // Applied, yet reported lost: sent again, it would have met NODE_EXISTS instead.
  expect(outcome.status).toBe('rejected');
  expect(isZkError((outcome as PromiseRejectedResult).reason, ZkErrorCode.CONNECTION_LOSS)).toBe(true);
  expect(await direct.exists(created)).not.toBeNull();
  expect(seen.expired).toBe(0);
});

it('fails a lost read with CONNECTION_LOSS once its session ends before the link is back', async () => {
  client.close();
  await until(() => proxy.list().length === 0, SESSION_TIMEOUT_MS, 'the first client to hang up');
  client = await open(1000);
  // Every reconnection is held silent: the session is declared lost a session timeout later.
  proxy.pauseNewLinks(() => true);
  const outcome = await cutWhileInFlight(
    () => client.getData(NODE),
    (sentBytes) => sentBytes > NODE.length,
  );

  expect(outcome.status).toBe('rejected');
  expect(isZkError((outcome as PromiseRejectedResult).reason, ZkErrorCode.CONNECTION_LOSS)).toBe(true);
  expect(seen.expired).toBe(1);
});
