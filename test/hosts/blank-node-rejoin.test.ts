/**
 * A RabbitMQ node whose disk was lost comes back into its cluster the way a host's start brings
 * it back (src/infra/host-servers.ts): killed, its folder emptied and written anew, its former
 * self forgotten by a running peer (src/infra/blank-node-rejoin.ts), then started. The cluster
 * holds a stream replicated on every node, as the deployment's sync log is: it still lists the
 * forgotten node as a replica, and the stream coordinator restarts that replica as soon as the
 * node connects, before the node's database boot step. The node must still join the running
 * nodes on that boot, not form a cluster of its own (which, while the replica's folder was made
 * inside the node's database folder, it did: RabbitMQ took the folder for data of its own).
 * Nothing here resets a node that booted apart (rabbit-membership.ts does that on a host, 75 s
 * or more later): the test looks at what the boot itself did.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgetBlankNode } from '../../src/infra/blank-node-rejoin.ts';
import { type NodeView, viewOf } from '../../src/infra/rabbit-membership.ts';
import { rabbitNodeName } from '../../src/infra/rabbitmq-cluster-node.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { startBedServers, type BedServers } from '../../harness/hosts/bed-servers.ts';
import { Probe, STREAM_ARGUMENTS } from '../../harness/hosts/stream-probe-tools.ts';
import { TestBed } from '../../harness/hosts/TestBed.ts';

const logger = createLogger('blank-node-rejoin-test', process.env.LOG_LEVEL ?? 'error');
const bed = new TestBed({ name: `b${process.pid}`, subnet: '10.81.0.0/24' });
const STREAM = 'blank-rejoin.log';
/** How long a joined node may take after its boot to see the others running (a node apart never does). */
const JOINED_WITHIN_MS = 20_000;
let servers: BedServers;
let probe: Probe;

/** `node`'s view as seen from a CLI run on `host`; undefined while it does not answer. */
function viewFrom(host: string, node: string): Promise<NodeView | undefined> {
  return viewOf(servers.nodeCli(host), node);
}

/** The folder where the node of `host` keeps its streams, as the running node says. */
async function streamDataDir(host: string): Promise<string> {
  return JSON.parse((await servers.rabbitCli(host, 'rabbitmqctl', ['eval', 'element(2, application:get_env(osiris, data_dir)).'])).trim()) as string;
}

/** Each segment file under `dir` with its inode: the same inode after a restart is the same file, kept. */
function segments(dir: string): Record<string, number> {
  const files = readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => name.endsWith('.segment'));
  return Object.fromEntries(files.map((name) => [name, statSync(path.join(dir, name)).ino]));
}

/** The view of `node` from `host` once it runs every node, or the last one seen after `timeoutMs`. */
async function viewOnceAllRun(host: string, node: string, timeoutMs: number): Promise<NodeView | undefined> {
  const every = servers.hosts.map(rabbitNodeName);
  const until = Date.now() + timeoutMs;
  for (;;) {
    const view = await viewFrom(host, node);
    if ((view && every.every((name) => view.running.includes(name))) || Date.now() > until) return view;
    await sleep(500);
  }
}

describe('a RabbitMQ node back blank beside a stream that still lists it', () => {
  beforeAll(async () => {
    await bed.up();
    servers = await startBedServers(bed, { zookeeper: false });
    probe = new Probe(bed, servers);
    const declared = await probe.run('users', { task: 'declare', queue: STREAM, arguments: STREAM_ARGUMENTS });
    expect(declared.find((event) => event.event === 'declared')?.ok).toBe(true);
  }, 240_000);

  afterAll(async () => {
    await bed.down();
  }, 60_000);

  it('joins the running nodes on its first boot', async () => {
    const db = rabbitNodeName('db');
    const peers = ['users', 'rides'].map(rabbitNodeName);
    expect((await probe.placement('users'))[STREAM]?.members.sort()).toEqual(['db', 'rides', 'users']);

    await servers.killRabbit('db');
    await servers.wipeRabbit('db');
    // As a host's start does before its node: a peer forgets the former self.
    expect(await forgetBlankNode({ cli: servers.nodeCli('db'), self: db, peers, logger })).toBe(true);
    expect((await viewFrom('users', rabbitNodeName('users')))?.members).not.toContain(db);
    // The stream still lists it: the coordinator restarts that replica once the node connects.
    expect((await probe.placement('users'))[STREAM]?.members).toContain('db');

    await servers.restartRabbit('db');
    const own = await viewOnceAllRun('db', db, JOINED_WITHIN_MS);
    expect(own?.members.sort(), 'the blank node formed a cluster of its own').toEqual([db, ...peers].sort());
    expect(own?.running.sort()).toEqual([db, ...peers].sort());
    const fromPeer = await viewOnceAllRun('users', rabbitNodeName('users'), JOINED_WITHIN_MS);
    expect(fromPeer?.running).toContain(db);
    // What let it: it keeps its streams beside its database folder, not in it (src/infra/stream-data-dir.ts).
    expect(await streamDataDir('db')).toMatch(/\/db\/rabbitmq\/stream$/);
  }, 240_000);

  it('keeps its streams where they are through a restart that keeps its disk', async () => {
    const rides = rabbitNodeName('rides');
    const published = await probe.run('users', { task: 'bench', queue: STREAM, count: 200, size: 100, inflight: 20 });
    expect(published.find((event) => event.event === 'bench')?.nacks).toBe(0);
    const dir = await streamDataDir('rides');
    expect(dir).toMatch(/\/rides\/rabbitmq\/stream$/);
    const before = segments(dir);
    expect(Object.keys(before).length).toBeGreaterThan(0);

    await servers.killRabbit('rides');
    await servers.restartRabbit('rides');
    expect((await viewOnceAllRun('rides', rides, JOINED_WITHIN_MS))?.running.sort()).toEqual(servers.hosts.map(rabbitNodeName).sort());
    // The same files, not a replica made anew from the leader.
    expect(segments(dir)).toMatchObject(before);
    const read = await probe.run('rides', { task: 'consume', queue: STREAM, offset: 'first', max: 200, idleMs: 10_000 });
    expect(read.find((event) => event.event === 'end')?.received).toBe(200);
  }, 240_000);
});
