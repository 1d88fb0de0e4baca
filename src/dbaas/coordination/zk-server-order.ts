/**
 * ZooKeeper servers tried in the order ZK_CONNECT gives them. node-zookeeper-client shuffles the
 * list (as ZooKeeper's Java client does, to spread sessions); across hosts every process is given
 * its own host's server first, and a shuffled list put the database host's master on another
 * host's server: that host cut off one way (its packets in dropped), the master's link went
 * silent, its commit record missed its bound and the master stopped, and every write through
 * every host answered 503 until a slave took over. With its own host's server first, only its own
 * host's trouble reaches a process's ZooKeeper link; the others stay there to fail over to.
 *
 * The library offers no option for it, so this reaches into its connection manager's list (the
 * same list, reordered); node-zookeeper-client is pinned (package.json), a test
 * (test/dbaas/zk-server-order.test.ts) fails when the list is no longer where it is looked for,
 * and a client whose list cannot be found gets one warning and works on, shuffled.
 */
import type zookeeper from 'node-zookeeper-client';

interface ServerAddress {
  host: string;
  port: number | string;
}

interface WithServers {
  connectionManager?: { servers?: unknown; nextServerIndex?: unknown };
}

/** `host:port` of each server of a connect string, in its order (a chroot suffix left out). */
export function serversOf(connect: string): string[] {
  const slash = connect.indexOf('/');
  const hosts = slash >= 0 ? connect.slice(0, slash) : connect;
  return hosts
    .split(',')
    .map((each) => each.trim())
    .filter((each) => each.length > 0)
    .map((each) => (each.includes(':') ? each : `${each}:2181`));
}

function isServerList(value: unknown): value is ServerAddress[] {
  return Array.isArray(value) && value.every((each) => typeof each === 'object' && each !== null && 'host' in each && 'port' in each);
}

/** Puts the client's servers back in the connect string's order, before it connects. True when it could. */
export function keepServerOrder(client: zookeeper.Client, connect: string): boolean {
  const manager = (client as unknown as WithServers).connectionManager;
  const servers = manager?.servers;
  if (!manager || !isServerList(servers) || manager.nextServerIndex !== 0) {
    warnOnce();
    return false;
  }
  const order = serversOf(connect);
  const rank = (server: ServerAddress) => {
    const index = order.indexOf(`${server.host}:${server.port}`);
    return index < 0 ? order.length : index;
  };
  servers.sort((a, b) => rank(a) - rank(b));
  return true;
}

/** The order the client will try its servers in, as `host:port` (for the test and the logs). */
export function serverOrder(client: zookeeper.Client): string[] {
  const servers = (client as unknown as WithServers).connectionManager?.servers;
  return isServerList(servers) ? servers.map((server) => `${server.host}:${server.port}`) : [];
}

let warned = false;
function warnOnce(): void {
  if (warned) return;
  warned = true;
  process.emitWarning('node-zookeeper-client no longer keeps its server list where expected: ZooKeeper servers are tried in a shuffled order', 'RideShareWarning');
}
