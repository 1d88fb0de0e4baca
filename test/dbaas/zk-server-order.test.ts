/**
 * ZooKeeper servers tried in ZK_CONNECT's order (src/dbaas/coordination/zk-server-order.ts):
 * node-zookeeper-client shuffles them, and the fix reaches into its connection manager. This
 * fails when the library no longer keeps the list where it is looked for (a new version), so
 * the order this host's processes rely on is not silently lost.
 */
import zookeeper from 'node-zookeeper-client';
import { expect, it } from 'vitest';
import { keepServerOrder, serverOrder } from '../../src/dbaas/coordination/zk-server-order.ts';

const CONNECT = '10.0.0.2:2181,10.0.0.1:2181,10.0.0.3:2181,10.0.0.4:2182,10.0.0.5:2181';

it('puts the servers back in the order given, every time, before any connection', () => {
  const orders = new Set<string>();
  for (let attempt = 0; attempt < 30; attempt += 1) {
    const client = zookeeper.createClient(CONNECT, { sessionTimeout: 4000, spinDelay: 200, retries: 0 });
    orders.add(serverOrder(client).join(','));
    expect(keepServerOrder(client, CONNECT)).toBe(true);
    expect(serverOrder(client)).toEqual(CONNECT.split(','));
  }
  // The library does shuffle: without the reorder the order would not be the one given.
  expect(orders.size).toBeGreaterThan(1);
});

it('keeps the order with a chroot and a server given without its port', () => {
  const connect = 'db,users:2181,rides:2181/rideshare';
  const client = zookeeper.createClient(connect, { sessionTimeout: 4000, spinDelay: 200, retries: 0 });
  expect(keepServerOrder(client, connect)).toBe(true);
  expect(serverOrder(client)).toEqual(['db:2181', 'users:2181', 'rides:2181']);
});
