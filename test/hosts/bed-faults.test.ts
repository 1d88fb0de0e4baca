/**
 * The deployment of docs/hosts.md on three hosts in the highly available placement (both services
 * on users and on rides), on a test bed, and what it survives.
 *
 * First the deployment's own check: the quorum queues' leaders are on the RabbitMQ node of the
 * master's host (db at first), and one moved to another node is moved back; at the end, after the
 * master's host crashed, they have followed the master to its new host.
 *
 * Then a short round of the bed's fault suite (harness/hosts/bed-faults): a crash of a host that
 * runs a slave and not the master (the database's workers are placed on every host, the master
 * first on db) under a steady stream of reads and writes, a host's RabbitMQ node killed alone,
 * which its `npm start` runs again, and a crash of the master's host, every process of it at once:
 * a slave on another host becomes the master, with nothing acknowledged lost. The database's
 * clients write through every host's orchestrator and the product's through every gateway, from a
 * fourth host of the bed that runs no RideShare. While the crashed host is out, every
 * route keeps answering through the other gateways: each one answers 2xx there, and none fails
 * from 15 s after the loss on. After each heal the history checker reads every replica (listed
 * by ZooKeeper or found in any host's DATA_DIR): writes acknowledged, none lost, none applied
 * twice, and every user and ride a gateway acknowledged is there. The seed placement's host loss
 * (its slave replaced on a host still up, every replica the same after the restart) is
 * deployment.test.ts's. The other kinds (the other host crashes, freezes, partitions, port cuts,
 * a ZooKeeper server lost, loss and delay, on any host, the master's included) run in the soak:
 * `npm run soak -- --hosts` runs every kind for as long as asked.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BED_HOSTS, BedFaultEnvironment, type BedHost } from '../../harness/hosts/bed-faults/bed-fault-environment.ts';
import { BED_FAULT_KINDS, type BedFaultName } from '../../harness/hosts/bed-faults/bed-kinds.ts';
import { runBedRound } from '../../harness/hosts/bed-faults/bed-round.ts';
import type { Route, RouteAnswer } from '../../harness/hosts/bed-faults/route-stream.ts';
import { Figures } from '../../harness/faults/figures.ts';
import { RideShareError } from '../../src/shared/errors.ts';
import { GatewayRequests } from '../../harness/hosts/gateway-requests.ts';
import { until } from '../../harness/replicas.ts';
import { leaderTransfer } from '../../src/infra/queue-leaders.ts';
import { PRIVATE_VHOST } from '../../src/infra/rabbitmq.ts';

/** FAULTS_KINDS=a,b runs those kinds instead (any of BED_FAULT_KINDS). */
const KINDS: readonly BedFaultName[] = process.env.FAULTS_KINDS
  ? process.env.FAULTS_KINDS.split(',').map((kind) => {
      if (!(BED_FAULT_KINDS as readonly string[]).includes(kind.trim())) throw new RideShareError('BAD_REQUEST', `no bed fault kind '${kind}' (${BED_FAULT_KINDS.join(', ')})`);
      return kind.trim() as BedFaultName;
    })
  : // Two host crashes and one server lost alone: `npm test` stays short, and the soak runs the rest.
    ['slave-host-crash', 'rabbitmq-node-loss', 'master-host-crash'];
/** What a round of the kind shows beyond healing with nothing lost, for its test's name. */
const SHOWS: Partial<Record<BedFaultName, string>> = {
  'slave-host-crash': "a slave's host crashes under traffic: every route keeps answering through the other gateways, the writes go on",
  'master-host-crash': "the master's host crashes under traffic: a slave elsewhere becomes the master, every route answers again through the other gateways",
};
const SEED = Number(process.env.FAULTS_SEED ?? 42);
const BED = `f${process.pid}`;
let env: BedFaultEnvironment | undefined;
const figures = new Figures();
const rounds = new Map<BedFaultName, number>();
/** The kinds that take a host out of the traffic: every route must answer through the others meanwhile. */
const HOST_OUT: readonly BedFaultName[] = ['users-host-crash', 'rides-host-crash', 'slave-host-crash', 'host-crash-wiped', 'master-host-crash'];
const ROUTES: readonly Route[] = ['users list', 'rides count', 'new user', 'new ride'];

function live(): BedFaultEnvironment {
  if (!env) throw new RideShareError('INTERNAL', 'the bed did not start');
  return env;
}

/**
 * What the other gateways answered while `host` was out: between its gateway's last answer before
 * the longest gap in its answers (the clients leave a crashed host out until it is back) and its
 * first after.
 */
function answersWhileOut(routes: readonly RouteAnswer[], host: BedHost): RouteAnswer[] {
  // Kept in the order they were answered: one sent just before the loss may be answered (timed out) long after.
  const times = routes
    .filter((answer) => answer.gateway === host)
    .map((answer) => answer.at)
    .sort((a, b) => a - b);
  let from = 0;
  let to = 0;
  for (let i = 1; i < times.length; i += 1) {
    const [previous, next] = [times[i - 1] as number, times[i] as number];
    if (next - previous > to - from) [from, to] = [previous, next];
  }
  return routes.filter((answer) => answer.gateway !== host && answer.at > from && answer.at < to);
}

beforeAll(async () => {
  // DEPLOYMENT_LOG_DIR=<folder> keeps every host's output there, to read after a failed run.
  const logDir = process.env.DEPLOYMENT_LOG_DIR;
  env = await BedFaultEnvironment.start({ placement: 'ha', name: BED, subnet: '10.80.0.0/24', log: (line) => console.log(line), ...(logDir ? { logDir } : {}) });
  const requests = new GatewayRequests(env.bed);
  const [user] = await requests.send('db', [requests.newUser('db', 'ha-base')]);
  expect(user?.status, user?.body).toBe(201);
}, 300_000);

afterAll(async () => {
  console.log(figures.table(`bed faults, ha placement, seed ${SEED}`));
  await env?.stop();
}, 120_000);

/** The cluster's quorum queues and their leaders' nodes, as the RabbitMQ node of `host` lists them. */
async function quorumLeaders(host: BedHost): Promise<{ name: string; leader: string }[]> {
  const listed = JSON.parse(await live().deployment.rabbitmqctl(host, ['list_queues', '-p', PRIVATE_VHOST, 'name', 'type', 'leader', '--formatter', 'json'])) as {
    name: string;
    type: string;
    leader: string;
  }[];
  return listed.filter((queue) => queue.type === 'quorum');
}

function leadersElsewhere(list: readonly { name: string; leader: string }[], node: string): string[] {
  return list.filter((queue) => queue.leader !== node).map((queue) => `${queue.name} on ${queue.leader}`);
}

describe('the highly available placement', () => {
  it("keeps the quorum queues' leaders on the master's node: one moved to another node is moved back", async () => {
    const { deployment } = live();
    expect(await live().masterHost()).toBe('db');
    const leaders = () => quorumLeaders('db');
    const elsewhere = (list: { name: string; leader: string }[]) => leadersElsewhere(list, 'rabbit@db');
    const before = await leaders();
    expect(before.map((queue) => queue.name).sort()).toEqual(['rideshare.readQ', 'rideshare.refused', 'rideshare.snapshotQ', 'rideshare.writeQ']);
    expect(elsewhere(before)).toEqual([]);
    const answer = await deployment.rabbitmqctl('db', ['eval', leaderTransfer(PRIVATE_VHOST, 'rideshare.writeQ', 'rabbit@rides')]);
    expect(answer.trim()).toBe('{migrated,rabbit@rides}');
    const movedAt = Date.now();
    await until(async () => (elsewhere(await leaders()).length === 0 ? true : undefined), 30_000, "every quorum queue's leader back on rabbit@db");
    console.log(`ha placement: writeQ's leader moved to rabbit@rides was back on rabbit@db ${Date.now() - movedAt} ms later`);
    expect(deployment.output('db')).toContain('moved quorum queue leaders to the master\u2019s RabbitMQ node');
  }, 60_000);
});

describe(`faults on the hosts (FAULTS_SEED=${SEED})`, () => {
  it.each(KINDS.map((kind) => [kind, SHOWS[kind] ? ` (${SHOWS[kind]})` : ''] as const))(
    '%s%s: heals, and every write acknowledged is in every replica once',
    async (kind) => {
      if (!env) throw new RideShareError('INTERNAL', 'the bed did not start');
      // A kind named twice in FAULTS_KINDS gets a label of its own each time (the checker tells rounds apart by it).
      const round = (rounds.get(kind) ?? 0) + 1;
      rounds.set(kind, round);
      const result = await runBedRound({ env, kind, seed: SEED, label: round === 1 ? `t-${kind}` : `t-${kind}-${round}`, log: (line) => console.log(line) });
      figures.add(result);
      console.log(result.text);
      expect(result.report.figures.acked).toBeGreaterThan(0);
      expect(result.report.figures.lost).toBe(0);
      expect(result.report.figures.duplicated).toBe(0);
      expect(result.faults[0]?.healMs, result.faults[0]?.notHealed).toBeDefined();
      expect(result.failures, result.text).toEqual([]);
      if (HOST_OUT.includes(kind)) {
        // The round holds that nothing fails there from 15 s after the loss on; each route must also have answered.
        const host = BED_HOSTS.find((name) => result.faults[0]?.detail.startsWith(`${name} crashed`));
        expect(host, result.faults[0]?.detail).toBeDefined();
        const answered = answersWhileOut(result.routes, host as BedHost).filter((answer) => answer.status >= 200 && answer.status < 300);
        console.log(`${kind}: ${answered.length} requests answered 2xx through the other gateways while ${host} was out`);
        expect(ROUTES.filter((route) => !answered.some((answer) => answer.route === route))).toEqual([]);
      }
    },
    240_000,
  );

  it("the quorum queues' leaders are on the node of the master's host, wherever the faults took the master", async () => {
    const host = await live().masterHost();
    expect(host).toBeDefined();
    const node = `rabbit@${host}`;
    const movedAt = Date.now();
    await until(async () => (leadersElsewhere(await quorumLeaders(host as BedHost), node).length === 0 ? true : undefined), 30_000, `every quorum queue's leader on ${node}`);
    console.log(`the master on ${host}: every quorum queue's leader there ${Date.now() - movedAt} ms after the last round`);
  }, 60_000);

  it('leaves nothing behind: no namespace of the bed, no process in it', async () => {
    const stopping = env;
    env = undefined;
    await stopping?.stop();
    const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    expect(namespaces).not.toContain(`rs-${BED}-`);
    const processes = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(processes.split('\n').filter((line) => line.includes(`rs-${BED}-`))).toEqual([]);
  }, 120_000);
});
