/**
 * The servers across the hosts of a test bed: one RabbitMQ node and one ZooKeeper server on each
 * host, each run with the bed's `exec` (so it has the host's name, address and /etc/hosts), made
 * by src/infra/rabbitmq-cluster-node.ts and zookeeper-ensemble-server.ts. `startBedServers`
 * resolves once the RabbitMQ cluster runs every node and every ZooKeeper server is a leader or a
 * follower, with the time each took.
 *
 * Stopping is SIGTERM (rabbitmq-server's trap stops its node; `rabbitmqctl stop` can hang on a
 * node back from a pause), then SIGKILL after a grace. It runs on `stop()`, before the bed's
 * `down()` (a hook of the bed), and, should the process exit or be signalled first, the bed's
 * own teardown SIGKILLs whatever is left in its namespaces and removes the servers' folder (a
 * folder of the bed's).
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RideShareError } from '../../src/shared/errors.ts';
import { isAlive, sendSignal, terminate, waitFor } from '../../src/shared/processes.ts';
import type { NodeCli } from '../../src/infra/rabbit-membership.ts';
import { clusterNodeUrl, prepareRabbitClusterNode, rabbitNodeName, type ClusterNodeLaunch, type RabbitClusterNodeOptions } from '../../src/infra/rabbitmq-cluster-node.ts';
import { ensembleConnectString, prepareZooKeeperEnsembleServer } from '../../src/infra/zookeeper-ensemble-server.ts';
import type { TestBed } from './TestBed.ts';
import { pidsIn } from './namespace-pids.ts';

export interface BedServersOptions {
  /** Start RabbitMQ nodes (default true). */
  rabbitmq?: boolean;
  /** Start ZooKeeper servers (default true). */
  zookeeper?: boolean;
  /** Erlang's net_ticktime for every node (default 10). */
  netTicktimeSeconds?: number;
  /** How long the cluster and the quorum may take to form (default 150 s: a loaded 2-core machine). */
  formTimeoutMs?: number;
  /** How long a server has to stop after SIGTERM before SIGKILL (default 15 s). */
  stopGraceMs?: number;
}

export interface ServerMemory {
  host: string;
  /** Resident memory of the node's beam.smp, and of everything else RabbitMQ runs on the host (epmd, erl_child_setup, inet_gethost). */
  rabbitmqKiB: number;
  rabbitmqHelpersKiB: number;
  zookeeperKiB: number;
}

export interface BedServers {
  readonly hosts: readonly string[];
  /** The RabbitMQ user's password (the user and vhost are `rideshare`). */
  readonly password: string;
  /** Milliseconds from the first spawn until the cluster ran every node / every ZooKeeper server served. */
  readonly formedMs: { rabbitmq?: number; zookeeper?: number };
  /** A client's URL for the node on `host`. */
  amqpUrl(host: string): string;
  /** Every node's URL, comma-separated, `first` (if given) first: what AMQP_URL holds for a cluster. */
  amqpUrls(first?: string): string;
  /** `users:2181,rides:2181,…`, `first` (if given) first. */
  zkConnect(first?: string): string;
  /** SIGKILL to the RabbitMQ node of `host` and every process it started (epmd stays: it is the host's). */
  killRabbit(host: string): Promise<void>;
  /** Starts the RabbitMQ node of `host` again from its folder (after killRabbit): it rejoins with its data; resolves once it has booted. */
  restartRabbit(host: string): Promise<void>;
  /**
   * Empties the folder of the node of `host` (killed first: killRabbit) and writes its files anew,
   * as a host's start does in a DATA_DIR lost with its disk: restartRabbit then starts it blank.
   */
  wipeRabbit(host: string): Promise<void>;
  /** A CLI tool's argv against a node, run on `host` (the cookie of its node's folder): what src/infra takes as a NodeCli, run inside the bed. */
  nodeCli(host: string): NodeCli;
  /** Runs a RabbitMQ CLI tool against the node of `host`, on that host; its stdout. */
  rabbitCli(host: string, tool: string, args: readonly string[], timeoutMs?: number): Promise<string>;
  /** `leader`, `follower`, or undefined when the server does not serve. */
  zkMode(host: string): Promise<string | undefined>;
  memory(): ServerMemory[];
  stop(): Promise<void>;
}

const FOUR_LETTER_TIMEOUT_S = 2;
/** What a RabbitMQ node runs on its host besides epmd (the host has no other Erlang). */
const RABBIT_PROCESSES = ['beam.smp', 'erl_child_setup', 'inet_gethost', 'rabbitmq-server'];

export async function startBedServers(bed: TestBed, options: BedServersOptions = {}): Promise<BedServers> {
  const hosts = bed.hosts.map((host) => host.name);
  // Removed by the bed's teardown, which also runs when the owner exits or is signalled.
  const dir = bed.folder('servers');
  const password = randomBytes(18).toString('base64url');
  const cookie = randomBytes(24).toString('hex');
  /** Each server's process, with the last of what it printed (for the error when it dies early). */
  const children: { host: string; kind: 'rabbitmq' | 'zookeeper'; child: ChildProcess; logFile: string; output: string }[] = [];
  const launches = new Map<string, ClusterNodeLaunch>();
  const nodeOptions = (host: string): RabbitClusterNodeOptions => ({ dir: path.join(dir, host, 'rabbitmq'), host, hosts, cookie, password, netTicktimeSeconds: options.netTicktimeSeconds });
  const grace = options.stopGraceMs ?? 15_000;

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all(
        children.map(({ child }) => {
          const pid = child.pid;
          if (pid === undefined) return Promise.resolve(true);
          return terminate({ signal: (signal) => child.kill(signal), alive: () => child.exitCode === null && child.signalCode === null && isAlive(pid), graceMs: grace });
        }),
      );
      // Each node's rabbitmq-server started its host's epmd, which daemonized; it goes with them.
      for (const host of hosts) for (const pid of pidsIn(bed.host(host).namespace)) if (commOf(pid) === 'epmd') sendSignal(pid, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    })());
  bed.beforeDown(stop);

  const spawnLogged = (host: string, kind: 'rabbitmq' | 'zookeeper', argv: string[], logFile: string) => {
    const entry = { host, kind, child: bed.exec(host, argv, { stdio: ['ignore', 'pipe', 'pipe'] }), logFile, output: '' };
    const keep = (chunk: Buffer) => (entry.output = (entry.output + chunk.toString()).slice(-4000));
    entry.child.stdout?.on('data', keep);
    entry.child.stderr?.on('data', keep);
    children.push(entry);
  };

  const began = performance.now();
  const formedMs: { rabbitmq?: number; zookeeper?: number } = {};
  try {
    const waits: Promise<void>[] = [];
    if (options.rabbitmq ?? true) {
      for (const host of hosts) {
        const launch = await prepareRabbitClusterNode(nodeOptions(host));
        launches.set(host, launch);
        spawnLogged(host, 'rabbitmq', launch.argv, launch.logFile);
      }
      waits.push(
        waitForCluster().then(() => {
          formedMs.rabbitmq = performance.now() - began;
        }),
      );
    }
    if (options.zookeeper ?? true) {
      for (const host of hosts) {
        const launch = await prepareZooKeeperEnsembleServer({ dir: path.join(dir, host, 'zookeeper'), host, hosts });
        spawnLogged(host, 'zookeeper', launch.argv, launch.logFile);
      }
      waits.push(
        waitForQuorum().then(() => {
          formedMs.zookeeper = performance.now() - began;
        }),
      );
    }
    await Promise.all(waits);
  } catch (error) {
    await stop();
    throw error;
  }

  function deadline(): number {
    return began + (options.formTimeoutMs ?? 150_000);
  }

  async function failIfExited(): Promise<void> {
    for (const { host, kind, child, logFile, output } of children) {
      if (child.exitCode === null && child.signalCode === null) continue;
      const log = (await readFile(logFile, 'utf8').catch(() => '')).slice(-2000);
      throw new RideShareError('INTERNAL', `${kind} on ${host} exited (${child.signalCode ?? `code ${child.exitCode}`}) before it joined\n${output}\n${log}`);
    }
  }

  function cli(host: string, tool: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
    const launch = launches.get(host);
    if (!launch) throw new RideShareError('NOT_FOUND', `no RabbitMQ node on ${host}`);
    return bed.run(host, [...launch.cli(tool), ...args], { timeoutMs });
  }

  /** Every node booted (await_startup waits inside one CLI run), then one that sees them all running. */
  async function waitForCluster(): Promise<void> {
    for (;;) {
      await failIfExited();
      if (performance.now() > deadline()) throw new RideShareError('TIMEOUT', `the RabbitMQ cluster of ${hosts.join(', ')} did not form within ${options.formTimeoutMs ?? 150_000} ms`);
      try {
        await Promise.all(hosts.map((host) => cli(host, 'rabbitmqctl', ['await_startup', '--timeout', '20'], 30_000)));
        const status = JSON.parse(await cli(hosts[0]!, 'rabbitmqctl', ['cluster_status', '--formatter', 'json'])) as { running_nodes?: string[] };
        const running = new Set(status.running_nodes ?? []);
        if (hosts.every((host) => running.has(rabbitNodeName(host)))) return;
      } catch {
        // not booted yet, or still joining
      }
      await sleep(1000);
    }
  }

  async function waitForQuorum(): Promise<void> {
    for (;;) {
      await failIfExited();
      if (performance.now() > deadline()) throw new RideShareError('TIMEOUT', `the ZooKeeper ensemble of ${hosts.join(', ')} had no quorum within ${options.formTimeoutMs ?? 150_000} ms`);
      const modes = await Promise.all(hosts.map((host) => zkMode(host)));
      // One server alone runs standalone: ZooKeeper ignores an ensemble of one.
      const serving = hosts.length === 1 ? ['standalone', 'leader'] : ['leader', 'follower'];
      if (modes.every((mode) => mode !== undefined && serving.includes(mode))) return;
      await sleep(250);
    }
  }

  async function zkMode(host: string): Promise<string | undefined> {
    // bash's /dev/tcp inside the host: the bed's addresses are not reachable from this process.
    const script = `exec 3<>/dev/tcp/127.0.0.1/2181 && printf srvr >&3 && timeout ${FOUR_LETTER_TIMEOUT_S} cat <&3`;
    const reply = await bed.run(host, ['bash', '-c', script], { hostname: false, timeoutMs: 5000 }).catch(() => '');
    return /^Mode: (\w+)/m.exec(reply)?.[1];
  }

  const first = (list: readonly string[], head?: string) => (head === undefined ? [...list] : [head, ...list.filter((host) => host !== head)]);

  return {
    hosts,
    password,
    formedMs,
    amqpUrl: (host) => clusterNodeUrl(bed.host(host).name, password),
    amqpUrls: (head) =>
      first(hosts, head)
        .map((host) => clusterNodeUrl(host, password))
        .join(','),
    zkConnect: (head) => ensembleConnectString(first(hosts, head)),
    killRabbit: async (host) => {
      const entry = children.find((candidate) => candidate.host === host && candidate.kind === 'rabbitmq');
      if (!entry) throw new RideShareError('NOT_FOUND', `no RabbitMQ node on ${host}`);
      for (const pid of rabbitPids(bed.host(host).namespace)) sendSignal(pid, 'SIGKILL');
      entry.child.kill('SIGKILL');
      while (rabbitPids(bed.host(host).namespace).length > 0) await sleep(20);
    },
    restartRabbit: async (host) => {
      const launch = launches.get(host);
      const index = children.findIndex((candidate) => candidate.host === host && candidate.kind === 'rabbitmq');
      if (!launch || index < 0) throw new RideShareError('NOT_FOUND', `no RabbitMQ node on ${host}`);
      const { child } = children[index]!;
      // killRabbit waits for the processes to go; their parent's exit event may come a moment later.
      const exited = await waitFor(() => child.exitCode !== null || child.signalCode !== null, 5000);
      if (!exited) throw new RideShareError('CONFLICT', `the RabbitMQ node on ${host} still runs`);
      // The dead entry goes: failIfExited and stop() look at the live one only.
      children.splice(index, 1);
      spawnLogged(host, 'rabbitmq', launch.argv, launch.logFile);
      // await_startup fails at once while the node has not registered with epmd yet: asked again until it boots.
      const until = performance.now() + (options.formTimeoutMs ?? 150_000);
      for (;;) {
        await failIfExited();
        try {
          await cli(host, 'rabbitmqctl', ['await_startup', '--timeout', '20'], 30_000);
          return;
        } catch (error) {
          if (performance.now() > until) throw error;
        }
        await sleep(1000);
      }
    },
    wipeRabbit: async (host) => {
      if (rabbitPids(bed.host(host).namespace).length > 0) throw new RideShareError('CONFLICT', `the RabbitMQ node on ${host} still runs`);
      const node = nodeOptions(host);
      await rm(node.dir, { recursive: true, force: true });
      launches.set(host, await prepareRabbitClusterNode(node));
    },
    nodeCli: (host) => {
      const launch = launches.get(host);
      if (!launch) throw new RideShareError('NOT_FOUND', `no RabbitMQ node on ${host}`);
      return (tool, node) => bed.command(host, launch.cli(tool, node));
    },
    rabbitCli: cli,
    zkMode,
    memory: () =>
      hosts.map((host) => {
        const procs = pidsIn(bed.host(host).namespace).map((pid) => ({ pid, comm: commOf(pid), rss: rssKiB(pid) }));
        const sum = (match: (comm: string) => boolean) => procs.filter((proc) => match(proc.comm)).reduce((total, proc) => total + proc.rss, 0);
        return {
          host,
          rabbitmqKiB: sum((comm) => comm === 'beam.smp'),
          rabbitmqHelpersKiB: sum((comm) => comm === 'epmd' || (comm !== 'beam.smp' && RABBIT_PROCESSES.includes(comm))),
          zookeeperKiB: sum((comm) => comm === 'java'),
        };
      }),
    stop,
  };
}

/** The node's processes on its host, epmd aside (it serves the host, and a restarted node would find it). */
function rabbitPids(namespace: string): number[] {
  return pidsIn(namespace).filter((pid) => RABBIT_PROCESSES.includes(commOf(pid)));
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function rssKiB(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}
