/**
 * PostgreSQL made highly available the usual way, on the hosts of a test bed, as the anchor for
 * "survives a host loss": Debian's Patroni running two PostgreSQL nodes, each in a host of its
 * own, with `synchronous_mode: true` (a commit is acknowledged once the other node has it), and
 * one etcd as Patroni's store in a third host. One etcd, not one per host: the loss measured is
 * that of a PostgreSQL node, which a store on neither node's host survives, and three more
 * servers on a machine of two cores would only slow both sides of the comparison.
 *
 * Everything runs through the bed (`exec`, `folder`): the bed's teardown kills whatever is left,
 * however this process ends, and removes the data folders. PostgreSQL listens only on its host's
 * bed address and keeps its sockets in its folder, so the machine's own server is never touched;
 * each node runs in an IPC namespace of its own and keeps its dynamic shared memory in its data
 * folder, so a SIGKILLed node leaves no shared memory behind. A process outside the bed reaches
 * the nodes through a bed bridge standing in the store's host: a client there is on neither node.
 */
import type { ChildProcess } from 'node:child_process';
import { chownSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RideShareError } from '../../src/shared/errors.ts';
import { sendSignal, waitFor } from '../../src/shared/processes.ts';
import { BedBridge } from './bed-faults/bed-bridge.ts';
import { ensureDebianPackages } from './debian-packages.ts';
import type { TestBed } from './TestBed.ts';

const PACKAGES = ['patroni', 'etcd-server', 'postgresql'] as const;
export const PATRONI_PG_PORT = 5432;
const REST_PORT = 8008;
const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;
const SCOPE = 'rideshare-anchor';
/** Superuser of the anchor's nodes; every bed address is trusted, so no password is ever sent. */
export const PATRONI_USER = 'postgres';
const UP_TIMEOUT_MS = 180_000;

export interface PatroniAnchorOptions {
  /** The host of etcd and of the bridge this process reaches the nodes through. */
  storeHost: string;
  /** The hosts of the two PostgreSQL nodes. */
  nodeHosts: readonly [string, string];
  /** Patroni's leader lease and loop, s: 10 and 2, the figures the anchor was first measured with. */
  ttl?: number;
  loopWait?: number;
}

export interface PatroniMember {
  name: string;
  host: string;
  role: string;
  state: string;
}

interface NodeProcess {
  host: string;
  /** Patroni itself: the bed's wrappers each exec the next, so the pid started is Patroni's. */
  child: ChildProcess;
  folder: string;
  dataDir: string;
  log: string;
}

export class PatroniAnchor {
  private constructor(
    private readonly bed: TestBed,
    private readonly options: PatroniAnchorOptions,
    private readonly nodes: NodeProcess[],
    private readonly etcd: { child: ChildProcess; log: string },
    readonly bridge: BedBridge,
  ) {}

  /** Installs what is missing, starts etcd and both nodes; resolves once a leader and a synchronous standby are running. */
  static async start(bed: TestBed, options: PatroniAnchorOptions): Promise<PatroniAnchor> {
    await ensureDebianPackages(PACKAGES);
    const etcd = startEtcd(bed, options.storeHost);
    const nodes = options.nodeHosts.map((host) => startNode(bed, options, host));
    const bridge = BedBridge.open(bed, options.storeHost);
    const anchor = new PatroniAnchor(bed, options, nodes, etcd, bridge);
    bed.beforeDown(() => anchor.stop());
    const ready = await waitForAsync(async () => anchor.ready(), UP_TIMEOUT_MS, 500);
    if (!ready) throw new RideShareError('TIMEOUT', `the Patroni cluster had no leader and synchronous standby within ${UP_TIMEOUT_MS} ms:\n${anchor.logTails()}`);
    return anchor;
  }

  /** Patroni's view of the cluster (GET /cluster on the first node that answers). */
  async members(): Promise<PatroniMember[]> {
    for (const node of this.nodes) {
      try {
        const url = await this.bridge.url(node.host, REST_PORT);
        const response = await fetch(`${url}/cluster`, { signal: AbortSignal.timeout(2000) });
        const body = (await response.json()) as { members?: { name: string; host: string; role: string; state: string }[] };
        return (body.members ?? []).map((member) => ({ name: member.name, host: this.hostOfAddress(member.host), role: member.role, state: member.state }));
      } catch {
        // that node's Patroni is down or busy: ask the other
      }
    }
    return [];
  }

  /** True once one node leads and the other is its running synchronous standby. */
  async ready(): Promise<boolean> {
    const members = await this.members();
    const leader = members.find((member) => member.role === 'leader' && member.state === 'running');
    const standby = members.find((member) => member.role === 'sync_standby' && ['running', 'streaming'].includes(member.state));
    return leader !== undefined && standby !== undefined;
  }

  /** The host of the current leader, if there is one. */
  async leaderHost(): Promise<string | undefined> {
    return (await this.members()).find((member) => member.role === 'leader')?.host;
  }

  get nodeHosts(): readonly string[] {
    return this.options.nodeHosts;
  }

  /** A local endpoint of this process reaching PostgreSQL on `host`, through the bridge. */
  async endpoint(host: string): Promise<{ host: string; port: number }> {
    return { host: '127.0.0.1', port: await this.bridge.port(host, PATRONI_PG_PORT) };
  }

  /** The postmaster of the node on `host` and every process it started: what a crash of that PostgreSQL takes. */
  postgresPids(host: string): number[] {
    const node = this.node(host);
    const pidFile = path.join(node.dataDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return [];
    const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!Number.isInteger(postmaster) || postmaster <= 0) return [];
    return [postmaster, ...childrenOf(postmaster)];
  }

  /** SIGKILL to the node's PostgreSQL (postmaster and backends at once); Patroni is left running. Resolves with the pids killed. */
  killPostgres(host: string): number[] {
    const pids = this.postgresPids(host);
    if (pids.length === 0) throw new RideShareError('CONFLICT', `no PostgreSQL runs on ${host}`);
    for (const pid of pids) sendSignal(pid, 'SIGKILL');
    return pids;
  }

  /** The last lines of etcd's and each node's Patroni log: why a start failed. */
  logTails(): string {
    return [this.etcd.log, ...this.nodes.map((node) => node.log)].map((file) => `--- ${file}\n${tail(file)}`).join('\n');
  }

  /** SIGTERM to both Patronis (each stops its PostgreSQL), then to etcd, each waited for; the bed's teardown kills what remains. */
  async stop(): Promise<void> {
    this.bridge.close();
    const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;
    for (const node of this.nodes) node.child.kill('SIGTERM');
    await waitFor(() => this.nodes.every((node) => !running(node.child)), 30_000, 100);
    this.etcd.child.kill('SIGTERM');
    await waitFor(() => !running(this.etcd.child), 10_000, 100);
  }

  private node(host: string): NodeProcess {
    const node = this.nodes.find((candidate) => candidate.host === host);
    if (!node) throw new RideShareError('NOT_FOUND', `no Patroni node on ${host}`);
    return node;
  }

  private hostOfAddress(address: string): string {
    return this.bed.hosts.find((host) => host.address === address)?.name ?? address;
  }
}

function startEtcd(bed: TestBed, host: string): { child: ChildProcess; log: string } {
  const folder = bed.folder('etcd');
  const address = bed.address(host);
  const log = path.join(folder, 'etcd.log');
  const output = openSync(log, 'a');
  const client = `http://${address}:${ETCD_CLIENT_PORT}`;
  const peer = `http://${address}:${ETCD_PEER_PORT}`;
  const child = bed.exec(
    host,
    [
      'etcd',
      '--name',
      host,
      '--data-dir',
      path.join(folder, 'data'),
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `${host}=${peer}`,
    ],
    {
      stdio: ['ignore', output, output],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    },
  );
  return { child, log };
}

function startNode(bed: TestBed, options: PatroniAnchorOptions, host: string): NodeProcess {
  const folder = bed.folder(`patroni-${host}`);
  const dataDir = path.join(folder, 'data');
  const address = bed.address(host);
  const ttl = options.ttl ?? 10;
  const loopWait = options.loopWait ?? 2;
  const config = {
    scope: SCOPE,
    name: host,
    restapi: { listen: `${address}:${REST_PORT}`, connect_address: `${address}:${REST_PORT}` },
    etcd3: { hosts: [`${bed.address(options.storeHost)}:${ETCD_CLIENT_PORT}`] },
    bootstrap: {
      dcs: {
        ttl,
        loop_wait: loopWait,
        // Patroni needs loop_wait + 2 × retry_timeout ≤ ttl.
        retry_timeout: Math.floor((ttl - loopWait) / 2),
        maximum_lag_on_failover: 1_048_576,
        synchronous_mode: true,
        postgresql: { use_pg_rewind: true, parameters: { wal_level: 'replica', hot_standby: 'on', max_connections: 200, max_wal_senders: 10, max_replication_slots: 10, wal_log_hints: 'on' } },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }],
    },
    postgresql: {
      listen: `${address}:${PATRONI_PG_PORT}`,
      connect_address: `${address}:${PATRONI_PG_PORT}`,
      data_dir: dataDir,
      bin_dir: postgresBinDir(),
      pgpass: path.join(folder, 'pgpass'),
      authentication: { superuser: { username: PATRONI_USER }, replication: { username: PATRONI_USER }, rewind: { username: PATRONI_USER } },
      // Only the bed's addresses, which no one outside the bed can reach.
      pg_hba: [`local all all trust`, `host all all ${bed.plan.subnet} trust`, `host replication all ${bed.plan.subnet} trust`],
      parameters: { unix_socket_directories: folder, dynamic_shared_memory_type: 'mmap', shared_buffers: '64MB' },
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
  const configFile = path.join(folder, 'patroni.yml');
  // JSON is YAML: Patroni reads it as its configuration file.
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const log = path.join(folder, 'patroni.log');
  const output = openSync(log, 'a');
  const { uid, gid } = postgresUser();
  chownSync(folder, uid, gid);
  chownSync(configFile, uid, gid);
  chownSync(log, uid, gid);
  // Its own IPC namespace: PostgreSQL's System V segment goes with the node's last process.
  const child = bed.exec(host, ['unshare', '--ipc', 'setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', 'patroni', configFile], {
    cwd: folder,
    stdio: ['ignore', output, output],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: folder, LANG: 'C.UTF-8' },
  });
  return { host, child, folder, dataDir, log };
}

function postgresBinDir(): string {
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new RideShareError('CONFIG_INVALID', 'no PostgreSQL server in /usr/lib/postgresql: apt-get install postgresql');
  return path.join('/usr/lib/postgresql', versions[0], 'bin');
}

function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  const fields = line?.split(':');
  if (!fields) throw new RideShareError('CONFIG_INVALID', 'no postgres user: apt-get install postgresql makes it');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The fields after the command name (which may hold spaces) start after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(none)';
  }
}

async function waitForAsync(done: () => Promise<boolean>, timeoutMs: number, intervalMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await done()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
