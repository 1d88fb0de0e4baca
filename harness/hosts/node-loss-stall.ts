/**
 * What losing a RabbitMQ node costs a publisher with confirms to a quorum queue, for each
 * net_ticktime asked: a bed of three hosts, a cluster across them (bed-servers.ts), a publisher in
 * users connected to users' node (confirm-publisher.ts), the queue's leader on db. Then a host is
 * cut off (a partition both ways): first rides (a follower), healed and rejoined; then db (the
 * leader). For each cut: the longest gap between two confirms from the cut on; how long a durable
 * exchange declared on users' node right after the cut takes (amqp-probe.ts); when the cut node
 * pauses itself (pause_minority closes the connection a client on its own host holds); and where
 * the queue's leader is once healed.
 *
 *   npx tsx harness/hosts/node-loss-stall.ts [--ticktimes 60,10] [--window 100]
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBedServers, type BedServers } from './bed-servers.ts';
import { TestBed } from './TestBed.ts';
import { rabbitNodeName } from '../../src/infra/rabbitmq-cluster-node.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const PUBLISHER = path.join(HERE, 'confirm-publisher.ts');
const PROBE = path.join(HERE, 'amqp-probe.ts');
const QUEUE = 'node-loss-stall';

interface PublisherEvent {
  event: string;
  at: number;
  from?: number;
  to?: number;
  ms?: number;
  count?: number;
}

const { values } = parseArgs({ options: { ticktimes: { type: 'string', default: '60,10' }, window: { type: 'string', default: '100' } } });
const ticktimes = (values.ticktimes ?? '60,10').split(',').map(Number);
const windowMs = Number(values.window) * 1000;

async function leaderHost(servers: BedServers): Promise<string> {
  const out = await servers.rabbitCli('users', 'rabbitmqctl', ['list_queues', '-p', 'rideshare', 'name', 'leader', '--formatter', 'json']).catch((error: Error) => error.message);
  try {
    const rows = JSON.parse(out) as { name: string; leader: string }[];
    return rows.find((row) => row.name === QUEUE)?.leader.replace(/^rabbit@/, '') ?? '?';
  } catch {
    return `? (${out.slice(0, 80)})`;
  }
}

async function allRunning(servers: BedServers, timeoutMs: number): Promise<number> {
  const began = Date.now();
  while (Date.now() - began < timeoutMs) {
    try {
      const status = JSON.parse(await servers.rabbitCli('users', 'rabbitmqctl', ['cluster_status', '--formatter', 'json'], 20_000)) as { running_nodes?: string[] };
      if (servers.hosts.every((host) => status.running_nodes?.includes(rabbitNodeName(host)))) return Date.now() - began;
    } catch {
      // the node is busy rejoining
    }
    await sleep(1000);
  }
  return -1;
}

/** A probe in `host` against `url`; its JSON lines land in `into`. */
function probe(bed: TestBed, host: string, mode: 'declare' | 'hold', url: string, into: PublisherEvent[]) {
  const child = bed.exec(host, ['node', '--import', 'tsx', PROBE, mode], { cwd: REPO, hostname: false, env: { PATH: process.env.PATH, AMQP_URL: url } });
  child.stdout?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.startsWith('{')) into.push(JSON.parse(line) as PublisherEvent);
  });
  return child;
}

async function cutAndWatch(bed: TestBed, servers: BedServers, events: PublisherEvent[], host: string) {
  const before = await leaderHost(servers);
  const held: PublisherEvent[] = [];
  const holder = probe(bed, host, 'hold', servers.amqpUrl(host), held);
  while (!held.some((item) => item.event === 'holding')) await sleep(100);
  const cutAt = Date.now();
  const cut = await bed.partition(host);
  const declared: PublisherEvent[] = [];
  probe(bed, 'users', 'declare', servers.amqpUrl('users'), declared);
  // Until confirms have flowed again for 5 s after the longest gap, or the window ends.
  for (;;) {
    await sleep(500);
    const gaps = events.filter((item) => item.event === 'gap' && (item.to ?? 0) >= cutAt);
    const lastGapEnd = Math.max(cutAt, ...gaps.map((item) => item.to ?? 0));
    const confirmedSince = events.some((item) => item.event === 'count' && item.at > lastGapEnd + 5000 && (item.count ?? 0) > 0);
    const declaredYet = declared.some((item) => item.event === 'declared');
    const pausedYet = held.some((item) => item.event === 'closed');
    if ((confirmedSince && declaredYet && pausedYet) || Date.now() - cutAt > windowMs) break;
  }
  const gaps = events.filter((item) => item.event === 'gap' && (item.to ?? 0) >= cutAt);
  const longest = gaps.reduce<PublisherEvent | undefined>((worst, item) => ((item.ms ?? 0) > (worst?.ms ?? 0) ? item : worst), undefined);
  const lastConfirm = [...events].reverse().find((item) => item.event === 'count' && (item.count ?? 0) > 0)?.at ?? 0;
  const stillStalled = Date.now() - lastConfirm > 2000;
  await cut.heal();
  holder.kill('SIGKILL');
  const rejoinMs = await allRunning(servers, 120_000);
  const after = await leaderHost(servers);
  const closed = held.find((item) => item.event === 'closed');
  return {
    cut: host,
    leaderBefore: before,
    leaderAfter: after,
    longestStallMs: stillStalled ? `>= ${Date.now() - lastConfirm} (still stalled)` : (longest?.ms ?? 0),
    stallStartedAfterCutMs: longest ? (longest.from ?? 0) - cutAt : undefined,
    declareOnMajorityMs: declared.find((item) => item.event === 'declared')?.ms ?? `> ${windowMs} (not done)`,
    cutNodePausedAfterMs: closed ? closed.at - cutAt : `> ${windowMs} (still serving)`,
    nacks: events.filter((item) => item.event === 'nack' && item.at >= cutAt).length,
    rejoinedAfterHealMs: rejoinMs,
  };
}

for (const ticktime of ticktimes) {
  const bed = new TestBed({ name: `stall${process.pid}`, subnet: '10.80.0.0/24' });
  await bed.up();
  try {
    const servers = await startBedServers(bed, { zookeeper: false, netTicktimeSeconds: ticktime });
    const events: PublisherEvent[] = [];
    const child = bed.exec('users', ['node', '--import', 'tsx', PUBLISHER], {
      cwd: REPO,
      hostname: false,
      env: { PATH: process.env.PATH, QUEUE, AMQP_URL: servers.amqpUrl('users'), DECLARE_URL: servers.amqpUrl('db') },
    });
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.startsWith('{')) events.push(JSON.parse(line) as PublisherEvent);
    });
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    while (!events.some((item) => item.event === 'count' && (item.count ?? 0) > 0)) await sleep(200);
    await sleep(3000);
    const steady = events
      .filter((item) => item.event === 'count')
      .slice(-3)
      .map((item) => item.count);
    const follower = await cutAndWatch(bed, servers, events, 'rides');
    const leader = await cutAndWatch(bed, servers, events, 'db');
    console.log(JSON.stringify({ netTicktimeSeconds: ticktime, formedMs: Math.round(servers.formedMs.rabbitmq ?? 0), confirmsPerSecond: steady, follower, leader }, null, 1));
    child.kill('SIGKILL');
  } finally {
    await bed.down();
  }
}
