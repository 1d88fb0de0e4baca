/**
 * This host's share of the servers of a deployment across hosts: its RabbitMQ cluster node
 * (rabbitmq-cluster-node.ts) and its ZooKeeper ensemble server (zookeeper-ensemble-server.ts),
 * each a process group of its own under DATA_DIR/servers/, started together and ready once the
 * node runs beside a majority of the cluster's nodes and takes clients, and the server serves as
 * leader or follower. Both need their peers (a RabbitMQ node joins the others on its first boot;
 * ZooKeeper serves only with a majority), so the hosts must be started within FORM_TIMEOUT_MS of
 * one another. Once up, a server that dies is started again (kept-server.ts), the node is watched
 * for staying apart after a partition (rabbit-membership.ts), and on the database host the
 * quorum queues' leaders are kept on its node (queue-leaders.ts).
 *
 * Stopping is SIGTERM (rabbitmq-server's trap stops its node, `rabbitmqctl stop` can hang on a
 * node back from a pause), SIGKILL to the group after the grace; then the host's epmd, if this
 * start is what started it (ownEpmd).
 */
import { RideShareError } from '../shared/errors.ts';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Logger } from '../shared/logger.ts';
import { portAccepts } from '../shared/processes.ts';
import type { RepeatingCheck } from '../shared/repeating-check.ts';
import { KeptServer } from './kept-server.ts';
import { keepQueueLeaders } from './queue-leaders.ts';
import { joinStreamCoordinator } from './stream-coordinator.ts';
import { joinStreams } from './stream-replicas.ts';
import { type Membership, type NodeCli, StrayNode, viewOf, watchForStray } from './rabbit-membership.ts';
import { PRIVATE_VHOST } from './rabbitmq.ts';
import { CLUSTER_AMQP_PORT, clusterNodeUrl, prepareRabbitClusterNode, rabbitNodeName } from './rabbitmq-cluster-node.ts';
import type { ServerHandle } from './servers.ts';
import { ENSEMBLE_CLIENT_PORT, ensembleConnectString, prepareZooKeeperEnsembleServer } from './zookeeper-ensemble-server.ts';
import { forgetBlankNode, isBlankNode } from './blank-node-rejoin.ts';
import { BootHangSign } from './boot-hang-sign.ts';
import { monotonicNow } from '../shared/monotonic.ts';

/** How long this host waits for its peers' servers: the other hosts may be started a while later. */
export const FORM_TIMEOUT_MS = 300_000;
const EPMD_PORT = 4369;
const RABBIT_STOP_GRACE_MS = 15_000;
/**
 * A node that has not finished booting this long after its start is killed and started again (at
 * once when it logs the sign of a boot stuck for good, boot-hang-sign.ts). A healthy boot, a rejoin
 * included, took 5–35 s on the test bed under load; one stuck for good never finished.
 */
const RABBIT_BOOT_HANG_MS = 60_000;
const ZOOKEEPER_STOP_GRACE_MS = 5000;
const execFileP = promisify(execFile);

export interface HostServersOptions {
  /** This host's name and every host's name and address, this one's among them. */
  self: { name: string; address: string };
  hosts: readonly { name: string; address: string }[];
  dataDir: string;
  password: string;
  cookie: string;
  logger: Logger;
  formTimeoutMs?: number;
  /** Checked while waiting for the peers: a stop requested meanwhile ends the wait (and stops both servers). */
  stopping?: () => boolean;
}

export interface HostServers {
  /** Every node's URL, this host's first (AMQP_URL). */
  rabbit: ServerHandle;
  /** Every server, this host's first (ZK_CONNECT). */
  zookeeper: ServerHandle;
}

interface StopHooks {
  /** Runs first, on a stop (awaited) or a kill (not): a watch of the server ends before the server. */
  before?: () => Promise<void>;
  /** A server that goes with this one: stopped once it is gone, killed with it (the host's own epmd). */
  companion?: KeptServer;
}

function handleOf(server: KeptServer, address: string, hooks: StopHooks = {}): ServerHandle {
  let stopping: Promise<void> | undefined;
  return {
    address,
    startedHere: true,
    get pid() {
      return server.pid;
    },
    stop: () =>
      (stopping ??= (async () => {
        await hooks.before?.();
        await server.stop();
        if (hooks.companion) {
          await hooks.companion.stop();
          // The host ran its own epmd, so one listening now was started by an Erlang tool of this
          // host while its own was not listening (a daemon): it goes too, once nothing uses it.
          await stopIdleEpmd();
        }
      })()),
    kill: () => {
      void hooks.before?.();
      server.kill();
      hooks.companion?.kill();
    },
  };
}

/** `srvr` on this host's ZooKeeper client port: its mode, or undefined while it does not serve. */
function zooKeeperMode(): Promise<string | undefined> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = net.connect({ host: '127.0.0.1', port: ENSEMBLE_CLIENT_PORT });
    const done = () => {
      socket.destroy();
      resolve(/^Mode: (\w+)/m.exec(reply)?.[1]);
    };
    socket.setTimeout(2000, done);
    socket.on('connect', () => socket.write('srvr'));
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
    socket.on('error', done);
    socket.on('close', done);
  });
}

async function until(what: string, deadline: number, failed: () => string | undefined, ready: () => Promise<boolean>): Promise<void> {
  for (;;) {
    const reason = failed();
    if (reason) throw new RideShareError('START_FAILED', `${what} ${reason}`);
    if (await ready()) return;
    if (monotonicNow() > deadline) throw new RideShareError('START_FAILED', `${what} was not ready within ${FORM_TIMEOUT_MS / 1000} s: are the other hosts started and reachable?`);
    await sleep(500);
  }
}

/** How long epmd may take to listen once started. */
const EPMD_LISTEN_MS = 10_000;

/**
 * The host's epmd (Erlang's port mapper, which the node and every `rabbitmqctl` register with),
 * started here as a server of the host's own when none runs, so that it stops with the node: left
 * to rabbitmq-server, it is a daemon nobody owns, and `epmd -kill` refuses while any Erlang node
 * (a `rabbitmqctl` still winding down) is registered, which left it running after a host's stop.
 * Undefined when one already ran (another owner's: left alone).
 */
async function ownEpmd(dataDir: string, logger: Logger): Promise<KeptServer | undefined> {
  if (await portAccepts(EPMD_PORT)) {
    // One with nobody registered is a daemon some Erlang tool started and left (it starts one when
    // none listens): taken over, or it would outlive this host's stop. One in use is another owner's.
    if (!(await stopIdleEpmd())) return undefined;
    logger.warn('an epmd with no node registered was running on this host: stopped, and this host runs its own');
  }
  const dir = path.join(dataDir, 'servers');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const epmd = new KeptServer({ name: 'epmd', argv: ['epmd', '-port', String(EPMD_PORT)], cwd: dir, logFile: path.join(dir, 'epmd.log'), graceMs: 2000, logger });
  const listenBy = monotonicNow() + EPMD_LISTEN_MS;
  while (!(await portAccepts(EPMD_PORT))) {
    const exited = epmd.exited();
    if (exited !== undefined || monotonicNow() > listenBy) {
      await epmd.stop();
      throw new RideShareError('START_FAILED', `epmd did not listen on ${EPMD_PORT}: ${exited ?? `not within ${EPMD_LISTEN_MS} ms`}`);
    }
    await sleep(50);
  }
  return epmd;
}

/**
 * Stops the epmd listening on this host if no Erlang node is registered with it (`epmd -kill`
 * refuses otherwise); true once none listens.
 */
async function stopIdleEpmd(): Promise<boolean> {
  try {
    const { stdout } = await execFileP('epmd', ['-names'], { timeout: 5000 });
    if (/^name /m.test(stdout)) return false;
    await execFileP('epmd', ['-kill'], { timeout: 5000 });
  } catch {
    return false;
  }
  const gone = monotonicNow() + EPMD_LISTEN_MS;
  while (await portAccepts(EPMD_PORT)) {
    if (monotonicNow() > gone) return false;
    await sleep(50);
  }
  return true;
}

/** This host's RabbitMQ node's folder (configuration, cookie, database, logs) in DATA_DIR. */
export function rabbitNodeDirOf(dataDir: string): string {
  return path.join(dataDir, 'servers', 'rabbitmq-node');
}

export async function startHostServers(options: HostServersOptions): Promise<HostServers> {
  const { self, hosts, logger } = options;
  const deadline = monotonicNow() + (options.formTimeoutMs ?? FORM_TIMEOUT_MS);
  // A node or server left by a start that was killed would hold the ports: say so instead of failing obscurely.
  for (const [port, what] of [
    [CLUSTER_AMQP_PORT, 'RabbitMQ'],
    [ENSEMBLE_CLIENT_PORT, 'ZooKeeper'],
  ] as const) {
    if (await portAccepts(port)) throw new RideShareError('START_FAILED', `port ${port} is already taken on this host: a ${what} still runs (an earlier start that was killed?); stop it first`);
  }
  const rabbitDir = rabbitNodeDirOf(options.dataDir);
  const zookeeperDir = path.join(options.dataDir, 'servers', 'zookeeper-server');
  await mkdir(rabbitDir, { recursive: true, mode: 0o700 });
  await mkdir(zookeeperDir, { recursive: true, mode: 0o700 });
  const rabbitLaunch = await prepareRabbitClusterNode({ dir: rabbitDir, host: self.name, hosts: hosts.map((host) => host.name), cookie: options.cookie, password: options.password });
  // ZooKeeper's members are reached by address; the id follows the order of RIDESHARE_HOSTS on every host.
  const zookeeperLaunch = await prepareZooKeeperEnsembleServer({ dir: zookeeperDir, host: self.address, hosts: hosts.map((host) => host.address) });
  // Before the node, so that it registers with this one instead of starting a daemon of its own.
  const epmd = await ownEpmd(options.dataDir, logger);
  /** The cluster knew this node before its disk was lost: its former self was forgotten, and the stream coordinator must take it anew. */
  let rejoinedBlank = false;
  if (await isBlankNode(path.join(rabbitDir, 'mnesia', rabbitLaunch.node))) {
    const peers = hosts.filter((host) => host.name !== self.name).map((host) => rabbitNodeName(host.name));
    rejoinedBlank = await forgetBlankNode({ cli: rabbitLaunch.cli, self: rabbitLaunch.node, peers, logger });
  }
  const rabbitProcess = new KeptServer({
    name: `RabbitMQ node ${rabbitLaunch.node}`,
    argv: rabbitLaunch.argv,
    cwd: rabbitDir,
    logFile: path.join(rabbitDir, 'stdout.log'),
    graceMs: RABBIT_STOP_GRACE_MS,
    logger,
  });
  const zookeeperProcess = new KeptServer({
    name: `ZooKeeper server ${zookeeperLaunch.id}`,
    argv: zookeeperLaunch.argv,
    cwd: zookeeperDir,
    logFile: zookeeperLaunch.logFile,
    graceMs: ZOOKEEPER_STOP_GRACE_MS,
    logger,
  });
  const selfFirst = [self, ...hosts.filter((host) => host.name !== self.name)];
  const membership: Membership = { self: rabbitLaunch.node, nodes: hosts.map((host) => rabbitNodeName(host.name)), cli: rabbitLaunch.cli, logger };
  const checks: RepeatingCheck[] = [];
  const strayWhileStarting = new StrayNode(membership);
  const rabbit = handleOf(rabbitProcess, selfFirst.map((host) => clusterNodeUrl(host.address, options.password)).join(','), {
    before: async () => void (await Promise.all(checks.map((check) => check.stop()))),
    ...(epmd ? { companion: epmd } : {}),
  });
  const zookeeper = handleOf(zookeeperProcess, ensembleConnectString(selfFirst.map((host) => host.address)));
  const began = monotonicNow();
  const failed = (server: KeptServer) => () => (options.stopping?.() ? 'was abandoned: a stop was requested' : server.exited());
  try {
    const [cli, ...cliArgs] = rabbitLaunch.cli('rabbitmqctl') as [string, ...string[]];
    let bootBegan = monotonicNow();
    /** Its boot finished once since it was (re)started: it may still wait for a majority, which is no hang. */
    let booted = false;
    const hangSign = new BootHangSign(rabbitLaunch.logFile);
    await hangSign.mark();
    await Promise.all([
      until(`RabbitMQ node ${rabbitLaunch.node}`, deadline, failed(rabbitProcess), async () => {
        const hung = !booted && (monotonicNow() - bootBegan > RABBIT_BOOT_HANG_MS || (await hangSign.seen()));
        if (hung) {
          // Seen on the test bed after a host's crash: the node's boot stopped for good in Erlang's
          // global name registry while a peer's link dropped and came back, and the other nodes'
          // queue operations waited with it (boot-hang-sign.ts). A node started again boots as any
          // restarted one.
          logger.warn({ node: rabbitLaunch.node, ms: monotonicNow() - bootBegan }, 'this host\u2019s RabbitMQ node has not finished starting: starting it again');
          await rabbitProcess.restart();
          // The sign comes some 20 s into a boot: whatever the killed boot wrote last is left behind.
          await hangSign.mark();
          bootBegan = monotonicNow();
          return false;
        }
        try {
          await execFileP(cli, [...cliArgs, 'await_startup', '--timeout', '20'], { timeout: 30_000 });
          booted = true;
          // A node that booted alone resets and restarts when it joins the others (its port closes
          // meanwhile): ready is running beside a majority, and accepting clients.
          const own = await viewOf(rabbitLaunch.cli, rabbitLaunch.node);
          if (own?.running.includes(rabbitLaunch.node) === true && own.running.length > hosts.length / 2) return await portAccepts(CLUSTER_AMQP_PORT);
          await strayWhileStarting.look(own);
          return false;
        } catch {
          return false;
        }
      }).then(() => logger.info({ node: rabbitLaunch.node, ms: monotonicNow() - began }, 'this host\u2019s RabbitMQ node runs in the cluster')),
      until(`ZooKeeper server ${zookeeperLaunch.id}`, deadline, failed(zookeeperProcess), async () => ['leader', 'follower'].includes((await zooKeeperMode()) ?? '')).then(() =>
        logger.info({ server: zookeeperLaunch.id, ms: monotonicNow() - began }, 'this host\u2019s ZooKeeper server serves in the ensemble'),
      ),
    ]);
    await everyNodeOrTimeout(rabbitLaunch, hosts.length, rejoinedBlank, logger);
    // Up: from now on a server that dies is started again, and rejoins with its data.
    rabbitProcess.keep();
    zookeeperProcess.keep();
    epmd?.keep();
    checks.push(watchForStray(membership));
    // Every host: the one whose node the master consumes through pulls the leaders there.
    checks.push(keepQueueLeaders({ node: rabbitLaunch.node, vhost: PRIVATE_VHOST, cli: rabbitLaunch.cli, logger }));
  } catch (error) {
    await Promise.all([rabbit.stop(), zookeeper.stop()]).catch(() => undefined);
    throw error;
  }
  return { rabbit, zookeeper };
}

/** How long a host waits, once its node runs beside a majority, for every node of the cluster. */
const EVERY_NODE_WAIT_MS = 60_000;

/**
 * A quorum queue's members are the nodes running when it is declared (RabbitMQ 3.10 does not add
 * a node that joins later), and a queue with two members is lost with either. So a host waits,
 * for a bounded time, until every node runs before its processes declare anything, and then adds
 * its node to every quorum queue that exists without it (a node that rejoined with a wiped disk,
 * or queues declared while it was away), to the stream coordinator when it rejoined blank
 * (stream-coordinator.ts), and to every stream (stream-replicas.ts). No step is fatal: past the wait, or if the grow
 * fails, the host starts beside the majority as before and says so.
 */
async function everyNodeOrTimeout(launch: { node: string; cli: NodeCli }, nodes: number, rejoinedBlank: boolean, logger: Logger): Promise<void> {
  const deadline = monotonicNow() + EVERY_NODE_WAIT_MS;
  for (;;) {
    const running = (await viewOf(launch.cli, launch.node))?.running ?? [];
    if (running.length >= nodes) break;
    if (monotonicNow() > deadline) {
      logger.warn({ running, nodes }, 'not every RabbitMQ node runs: starting beside the majority; quorum queues declared now have fewer members');
      break;
    }
    await sleep(500);
  }
  const [queues, ...queuesArgs] = launch.cli('rabbitmq-queues') as [string, ...string[]];
  await execFileP(queues, [...queuesArgs, 'grow', launch.node, 'all'], { timeout: 60_000 }).then(
    () => logger.info({ node: launch.node }, 'this host\u2019s RabbitMQ node is a member of every quorum queue'),
    (error: unknown) => logger.warn({ err: error }, 'could not add this host\u2019s RabbitMQ node to the existing quorum queues'),
  );
  // Before the streams: adding a replica goes through the coordinator.
  if (rejoinedBlank) await joinStreamCoordinator(launch.cli, launch.node, logger);
  await joinStreams(launch.cli, launch.node, PRIVATE_VHOST, logger);
}
