/**
 * Servers across hosts: a RabbitMQ cluster of three nodes and a ZooKeeper ensemble of three
 * servers, one of each per host of a bed (harness/hosts/bed-servers.ts), with the product's own
 * clients running inside a host: an AMQP client given every node keeps working when its node is
 * killed, a ZooKeeper client keeps its session when its server's host is cut off, and nothing
 * the servers started outlives the bed. One cluster for the whole file: forming it takes 20-60 s.
 * The owner stopped by SIGTERM runs a bed of its own (another name, another subnet), started with
 * the cluster so that the two form at once instead of one after the other.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, waitFor } from '../../src/shared/processes.ts';
import { rabbitNodeName } from '../../src/infra/rabbitmq-cluster-node.ts';
import { startBedServers, type BedServers } from '../../harness/hosts/bed-servers.ts';
import { listNamespaces, pidsIn } from '../../harness/hosts/namespace-pids.ts';
import { until } from '../../harness/replicas.ts';
import { tearDown } from '../../harness/hosts/teardown.ts';
import { TestBed } from '../../harness/hosts/TestBed.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const AMQP_CLIENT = path.join(HERE, 'fixtures/amqp-echo-client.ts');
const ZK_CLIENT = path.join(HERE, 'fixtures/zk-session-client.ts');
const SERVERS_OWNER = path.join(HERE, 'fixtures/servers-owner.ts');

/** Live processes whose command line contains `text`. */
function processesNaming(text: string): string[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    });
}

function bedFolders(bedName: string): string[] {
  return fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(`rs-${bedName}-`));
}

interface ClientEvent {
  event: string;
  at: number;
  peer?: string;
  owner?: string;
  message?: string;
}

/** A client in a host of the bed whose JSON lines the test reads as they come. */
class Client {
  readonly events: ClientEvent[] = [];
  stderr = '';
  constructor(readonly child: ChildProcess) {
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.startsWith('{')) this.events.push(JSON.parse(line) as ClientEvent);
    });
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4000)));
  }

  after(at: number, event: string): ClientEvent | undefined {
    return this.events.find((item) => item.at >= at && item.event === event);
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

const bed = new TestBed({ name: `c${process.pid}`, subnet: '10.79.0.0/24' });
let servers: BedServers;

/** A process owning a one-host bed with servers, which the last test stops with SIGTERM. */
class ServersOwner {
  readonly name = `o${process.pid}`;
  output = '';
  private readonly child: ChildProcess;
  constructor() {
    this.child = spawn('node', ['--import', 'tsx', SERVERS_OWNER, this.name], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }

  /** Whatever the test did, nothing of the owner or its bed is left. */
  remove(): void {
    this.child.kill('SIGKILL');
    tearDown(this.name);
  }
}
let owner: ServersOwner | undefined;

function startClient(host: string, script: string, env: Record<string, string>): Client {
  return new Client(bed.exec(host, ['node', '--import', 'tsx', script], { cwd: REPO, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, hostname: false }));
}

function hostOf(address: string | undefined): string | undefined {
  return bed.hosts.find((host) => address?.endsWith(host.address))?.name;
}

describe('servers across hosts', () => {
  beforeAll(async () => {
    owner = new ServersOwner();
    await bed.up();
    servers = await startBedServers(bed);
    console.log('formed (ms)', servers.formedMs, 'memory (KiB)', servers.memory());
  }, 200_000);

  afterAll(async () => {
    owner?.remove();
    await bed.down();
  }, 60_000);

  it('form one RabbitMQ cluster of every node and a ZooKeeper quorum of one leader and two followers', async () => {
    const status = JSON.parse(await servers.rabbitCli('db', 'rabbitmqctl', ['cluster_status', '--formatter', 'json'])) as { running_nodes: string[]; partitions: unknown };
    expect([...status.running_nodes].sort()).toEqual(['db', 'rides', 'users'].map(rabbitNodeName).sort());
    const modes = await Promise.all(servers.hosts.map((host) => servers.zkMode(host)));
    expect([...modes].sort()).toEqual(['follower', 'follower', 'leader']);
    for (const usage of servers.memory()) {
      expect(usage.rabbitmqKiB, usage.host).toBeGreaterThan(30_000);
      expect(usage.zookeeperKiB, usage.host).toBeGreaterThan(20_000);
    }
  });

  it("let in the cluster's own user on every node and never guest", async () => {
    const amqplib = path.join(REPO, 'node_modules/amqplib/channel_api.js');
    // A one-off connection from inside the bed: this process cannot reach the bed's addresses.
    const tryLogin = (url: string) =>
      bed.run(
        'users',
        ['node', '-e', `require(${JSON.stringify(amqplib)}).connect(process.argv[1]).then((c) => (console.log('accepted'), c.close()), (e) => console.log('refused ' + e.message))`, url],
        { hostname: false },
      );
    for (const host of servers.hosts) {
      expect(await tryLogin(servers.amqpUrl(host)), host).toContain('accepted');
      expect(await tryLogin(`amqp://guest:guest@${host}:5672`), host).toMatch(/refused .*ACCESS_REFUSED/);
    }
  });

  it('keep a ZooKeeper session when its server host is cut off and the other two keep a quorum', async () => {
    // From users, only the servers of the other hosts: cutting one off leaves the client the other.
    const client = startClient('users', ZK_CLIENT, {
      ZK_CONNECT: servers
        .zkConnect()
        .split(',')
        .filter((part) => !part.startsWith('users:'))
        .join(','),
    });
    try {
      expect(await waitFor(() => client.events.some((item) => item.event === 'read'), 20_000, 50), client.stderr).toBe(true);
      const owner = client.events.find((item) => item.event === 'read')?.owner;
      const connections = await bed.run('users', ['ss', '-Htn', 'state', 'established', 'dport', '=', ':2181'], { hostname: false });
      const serverHost = hostOf(/\s(\d+\.\d+\.\d+\.\d+):2181\b/.exec(connections)?.[1]);
      expect(serverHost, connections).toMatch(/^(rides|db)$/);
      const cut = await bed.partition(serverHost!);
      const cutAt = Date.now();
      try {
        // Noticed as a silent link, then the session resumes on the other server within its 4 s.
        expect(await waitFor(() => client.after(cutAt, 'disconnected') !== undefined, 10_000, 50), JSON.stringify(client.events.slice(-5))).toBe(true);
        expect(await waitFor(() => client.after(client.after(cutAt, 'disconnected')!.at, 'read') !== undefined, 15_000, 50)).toBe(true);
        const resumed = client.after(client.after(cutAt, 'disconnected')!.at, 'read')!;
        console.log(`ZooKeeper client: session kept, reads again ${resumed.at - cutAt} ms after its server's host was cut off`);
        expect(resumed.owner).toBe(owner);
        expect(client.events.some((item) => item.event === 'expired')).toBe(false);
      } finally {
        await cut.heal();
      }
    } finally {
      client.stop();
    }
  }, 60_000);

  it('keep an AMQP client working when the host of its node is cut off: it notices the silence and moves to the majority', async () => {
    const client = startClient('users', AMQP_CLIENT, { AMQP_URL: servers.amqpUrls('db') });
    try {
      expect(await waitFor(() => client.events.some((item) => item.event === 'echo'), 30_000, 50), client.stderr).toBe(true);
      expect(hostOf(client.events.find((item) => item.event === 'connected')?.peer)).toBe('db');
      const cut = await bed.partition('db');
      const cutAt = Date.now();
      try {
        // A silent link is noticed by the heartbeat (5 s, two missed), then declaring the client's
        // queue on the majority waits for the lost node to be declared down (net_ticktime 10).
        expect(await waitFor(() => client.after(cutAt, 'echo') !== undefined, 40_000, 50), JSON.stringify(client.events.slice(-5))).toBe(true);
        const lost = client.after(cutAt, 'lost')!;
        const echo = client.after(cutAt, 'echo')!;
        console.log(`AMQP client: its node's host cut off, connection counted lost after ${lost.at - cutAt} ms, working again after ${echo.at - cutAt} ms through ${hostOf(echo.peer)}`);
        expect(['users', 'rides']).toContain(hostOf(echo.peer));
        expect(echo.at - cutAt).toBeLessThan(30_000);
      } finally {
        await cut.heal();
      }
      // The cut node paused itself (pause_minority); it must be back before the next test kills another.
      await until(
        async () => {
          const status = JSON.parse(await servers.rabbitCli('users', 'rabbitmqctl', ['cluster_status', '--formatter', 'json']).catch(() => '{}')) as { running_nodes?: string[] };
          return servers.hosts.every((host) => status.running_nodes?.includes(rabbitNodeName(host))) || undefined;
        },
        60_000,
        'every node running again after the heal',
      );
    } finally {
      client.stop();
    }
  }, 120_000);

  it('keep an AMQP client working when its node is killed: it reconnects to another node within seconds', async () => {
    const client = startClient('users', AMQP_CLIENT, { AMQP_URL: servers.amqpUrls('rides') });
    try {
      expect(await waitFor(() => client.events.some((item) => item.event === 'echo'), 30_000, 50), client.stderr).toBe(true);
      expect(hostOf(client.events.find((item) => item.event === 'connected')?.peer)).toBe('rides');
      const killedAt = Date.now();
      await servers.killRabbit('rides');
      expect(await waitFor(() => client.after(killedAt, 'lost') !== undefined, 15_000, 20), JSON.stringify(client.events.slice(-5))).toBe(true);
      // From the loss on: an echo answered through rides just before the SIGKILL took effect may be reported after killedAt.
      const lostAt = client.after(killedAt, 'lost')!.at;
      expect(await waitFor(() => client.after(lostAt, 'echo') !== undefined, 20_000, 20), JSON.stringify(client.events.slice(-5))).toBe(true);
      const echo = client.after(lostAt, 'echo')!;
      console.log(`AMQP client: working again ${echo.at - killedAt} ms after its node was killed, through ${hostOf(echo.peer)}`);
      expect(['users', 'db']).toContain(hostOf(echo.peer));
      expect(echo.at - killedAt).toBeLessThan(10_000);
      expect(client.events.filter((item) => item.event === 'failed')).toEqual([]);
    } finally {
      client.stop();
    }
  }, 60_000);

  it('leave nothing when the bed goes down: every server had its SIGTERM, no process and no namespace remain', async () => {
    const started = servers.hosts.flatMap((host) => pidsIn(bed.host(host).namespace));
    expect(started.length).toBeGreaterThan(0);
    const report = await bed.down();
    // Everything was gone after the SIGTERMs: the teardown found nothing to kill.
    expect(report.killed).toEqual([]);
    expect(started.filter((pid) => isAlive(pid))).toEqual([]);
    expect(listNamespaces().filter((name) => name.startsWith(`rs-${bed.plan.name}-`))).toEqual([]);
    const leftovers = processesNaming(`rs-${bed.plan.name}-servers-`);
    expect(leftovers).toEqual([]);
    expect(bedFolders(bed.plan.name)).toEqual([]);
  }, 90_000);

  it('leave nothing when the owner of a bed running servers is stopped by SIGTERM', async () => {
    if (!owner) throw new Error('the owner was not started');
    const { name } = owner;
    try {
      expect(await waitFor(() => owner!.output.includes('up '), 120_000, 100), owner.output).toBe(true);
      const inside = pidsIn(`rs-${name}-solo`);
      const commands = inside.map((pid) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
      expect(commands).toEqual(expect.arrayContaining(['beam.smp', 'epmd', 'java']));
      expect(bedFolders(name)).toHaveLength(1);
      owner.signal('SIGTERM');
      expect(await waitFor(() => owner!.exited, 20_000, 50)).toBe(true);
      expect(inside.filter((pid) => isAlive(pid))).toEqual([]);
      expect(listNamespaces().filter((ns) => ns.startsWith(`rs-${name}-`))).toEqual([]);
      expect(processesNaming(`rs-${name}-servers-`)).toEqual([]);
      expect(bedFolders(name)).toEqual([]);
    } finally {
      owner.remove();
      owner = undefined;
    }
  }, 150_000);
});
