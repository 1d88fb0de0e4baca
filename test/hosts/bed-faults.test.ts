/**
 * The deployment of docs/hosts.md on three hosts in the highly available placement (both services
 * on users and on rides), on a test bed, and what it survives.
 *
 * First the deployment's own checks: the quorum queues' leaders are on the database host's
 * RabbitMQ node, and one moved to another node is moved back; then, under a steady stream of reads
 * and writes through the gateways of rides and db, the users host crashes and comes back: every
 * route keeps answering through the other gateways, and every acknowledged write is there
 * afterwards through every gateway.
 *
 * Then a short round of the bed's fault suite (harness/hosts/bed-faults) on the hosts that hold no
 * master: a crash of the host that runs a slave (the database's workers are placed on every host,
 * the master on db), a host cut off on ZooKeeper's ports (a partition of one kind of traffic), and
 * a host's RabbitMQ node killed alone, which its `npm start` runs again. The database's clients
 * write through every host's orchestrator and the product's through every gateway; after each
 * heal the history checker reads every replica (listed by ZooKeeper or found in any host's
 * DATA_DIR): writes acknowledged, none lost, none applied twice, and every route answered through
 * the spared gateways. Partitions of RabbitMQ's traffic, freezes, loss and delay
 * run in the soak: `npm run soak -- --hosts` runs every kind for as long as asked.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BedFaultEnvironment } from '../../harness/hosts/bed-faults/bed-fault-environment.ts';
import { BED_FAULT_KINDS, type BedFaultName } from '../../harness/hosts/bed-faults/bed-kinds.ts';
import { runBedRound } from '../../harness/hosts/bed-faults/bed-round.ts';
import { Figures } from '../../harness/faults/figures.ts';
import { RideShareError } from '../../src/shared/errors.ts';
import { GatewayRequests } from '../../harness/hosts/gateway-requests.ts';
import { until } from '../../harness/replicas.ts';
import { leaderTransfer } from '../../src/infra/queue-leaders.ts';
import { PRIVATE_VHOST } from '../../src/infra/rabbitmq.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/** FAULTS_KINDS=a,b runs those kinds instead (any of BED_FAULT_KINDS). */
const KINDS: readonly BedFaultName[] = process.env.FAULTS_KINDS
  ? process.env.FAULTS_KINDS.split(',').map((kind) => {
      if (!(BED_FAULT_KINDS as readonly string[]).includes(kind.trim())) throw new RideShareError('BAD_REQUEST', `no bed fault kind '${kind}' (${BED_FAULT_KINDS.join(', ')})`);
      return kind.trim() as BedFaultName;
    })
  : ['slave-host-crash', 'zookeeper-ports-cut', 'rabbitmq-node-loss'];
/** What a round of the kind shows beyond healing with nothing lost, for its test's name. */
const SHOWS: Partial<Record<BedFaultName, string>> = {
  'slave-host-crash': "a slave's host crashes: the slave is replaced on a host still up, the writes go on",
};
const SEED = Number(process.env.FAULTS_SEED ?? 42);
const BED = `f${process.pid}`;
let env: BedFaultEnvironment | undefined;
const figures = new Figures();
const rounds = new Map<BedFaultName, number>();
const HOSTS = ['users', 'rides', 'db'] as const;
/**
 * Past this long after a host is lost, every request through the other gateways must be answered:
 * the gateways leave its instances out within about 3 s (two missed health checks), and the
 * quorum queues, led from the database host's node, do not stall. A lost node that led them would
 * stall them 8-11 s (docs/hosts.md, *What a lost node costs*); the bound leaves room for that.
 */
const NOTICE_MS = 15_000;

function live(): BedFaultEnvironment {
  if (!env) throw new RideShareError('INTERNAL', 'the bed did not start');
  return env;
}
const requests = () => new GatewayRequests(live().bed);
const gateway = (host: string) => requests().gateway(host);
const send = (from: string, list: Parameters<GatewayRequests['send']>[1]) => requests().send(from, list);
const newUser = (host: string, username: string) => requests().newUser(host, username);
const newRide = (host: string, createdBy: string, source: number) => requests().newRide(host, createdBy, source);
async function expectAllThere(from: string, through: readonly string[], usernames: readonly string[], rideLocations: readonly string[]): Promise<void> {
  expect(await requests().missingThrough(from, through, usernames, rideLocations)).toEqual([]);
}

beforeAll(async () => {
  // DEPLOYMENT_LOG_DIR=<folder> keeps every host's output there, to read after a failed run.
  const logDir = process.env.DEPLOYMENT_LOG_DIR;
  env = await BedFaultEnvironment.start({ placement: 'ha', name: BED, subnet: '10.80.0.0/24', log: (line) => console.log(line), ...(logDir ? { logDir } : {}) });
  const [user] = await send('db', [newUser('db', 'ha-base')]);
  expect(user?.status, user?.body).toBe(201);
}, 300_000);

afterAll(async () => {
  console.log(figures.table(`bed faults, ha placement, seed ${SEED}`));
  await env?.stop();
}, 120_000);

describe('the highly available placement', () => {
  const usernames = ['ha-base'];
  const rideLocations: string[] = [];

  it("keeps the quorum queues' leaders on the database host's node: one moved to another node is moved back", async () => {
    const { deployment } = live();
    const leaders = async () =>
      (
        JSON.parse(await deployment.rabbitmqctl('db', ['list_queues', '-p', PRIVATE_VHOST, 'name', 'type', 'leader', '--formatter', 'json'])) as { name: string; type: string; leader: string }[]
      ).filter((queue) => queue.type === 'quorum');
    const elsewhere = (list: { name: string; leader: string }[]) => list.filter((queue) => queue.leader !== 'rabbit@db').map((queue) => `${queue.name} on ${queue.leader}`);
    const before = await leaders();
    expect(before.map((queue) => queue.name).sort()).toEqual(['rideshare.readQ', 'rideshare.refused', 'rideshare.snapshotQ', 'rideshare.writeQ']);
    expect(elsewhere(before)).toEqual([]);
    const answer = await deployment.rabbitmqctl('db', ['eval', leaderTransfer(PRIVATE_VHOST, 'rideshare.writeQ', 'rabbit@rides')]);
    expect(answer.trim()).toBe('{migrated,rabbit@rides}');
    const movedAt = Date.now();
    await until(async () => (elsewhere(await leaders()).length === 0 ? true : undefined), 30_000, "every quorum queue's leader back on rabbit@db");
    console.log(`ha placement: writeQ's leader moved to rabbit@rides was back on rabbit@db ${Date.now() - movedAt} ms later`);
    expect(deployment.output('db')).toContain('moved a quorum queue\u2019s leader to the database host\u2019s RabbitMQ node');
  }, 60_000);

  it('loses the users host: every route keeps answering through the other gateways, and after its restart through every gateway; nothing acknowledged lost', async () => {
    const { bed, deployment } = live();
    const lost = 'users';
    const survivors = HOSTS.filter((host) => host !== lost);
    const load = survivors.flatMap((host, index) => [
      { label: 'users route', url: `${gateway(host)}/api/v1/users` },
      { label: 'rides route', url: `${gateway(host)}/api/v1/rides/count` },
      { ...newUser(host, `ha-${lost}-${index}-{n}`), label: 'new user' },
      { ...newRide(host, 'ha-base', 30 + index), label: 'new ride' },
    ]);
    const traffic = requests().stream('db', load, NOTICE_MS + 8000, 50);
    await sleep(3000);
    const crashed = await bed.crash(lost);
    const lostAt = Date.now();
    let restarting: Promise<number> | undefined;
    const restart = () => (restarting ??= crashed.restart(async (host) => void (await deployment.start(host))));
    try {
      await traffic.done;
      const after = traffic.results.filter((result) => result.at >= lostAt);
      const failed = after.filter((result) => result.status !== 200 && result.status !== 201);
      // The last request that was not answered left this long after the loss (the answer it waited for is the client's 10 s).
      const lastFailedSent = failed.reduce((latest, result) => Math.max(latest, result.at), lostAt) - lostAt;
      const slowest = after.filter((result) => result.at >= lostAt + NOTICE_MS).reduce((most, result) => Math.max(most, result.ms), 0);
      console.log(
        `ha placement, ${lost} host lost: ${after.length} requests after the loss, ${failed.length} not answered ` +
          `(${failed.map((result) => `${result.label} ${result.status}`).join(', ') || 'none'}); the last of them sent ${lastFailedSent} ms after the loss; ` +
          `slowest answer past ${NOTICE_MS} ms: ${slowest} ms`,
      );
      expect(after.length).toBeGreaterThan(100);
      expect(failed.filter((result) => result.at >= lostAt + NOTICE_MS).map((result) => `${result.label} ${result.status} ${result.body}`)).toEqual([]);
      for (const route of ['users route', 'rides route', 'new user', 'new ride']) {
        expect(
          after.some((result) => result.label === route && result.at >= lostAt + NOTICE_MS && result.status < 300),
          route,
        ).toBe(true);
      }
      for (const result of traffic.results) {
        if (result.label === 'new user' && result.status === 201) usernames.push((JSON.parse(result.sent ?? '{}') as { username: string }).username);
        if (result.label === 'new ride' && result.status === 201) rideLocations.push(result.location as string);
      }
    } finally {
      // Whatever failed meanwhile, the host comes back for the next test.
      await restart();
    }

    const restartMs = await restart();
    await until(
      async () => {
        const answers = await send(
          'db',
          HOSTS.flatMap((host) => [{ url: `${gateway(host)}/api/v1/users` }, { url: `${gateway(host)}/api/v1/rides/count` }]),
        );
        return answers.every((answer) => answer.status === 200) ? answers : undefined;
      },
      30_000,
      'every route through every gateway',
    );
    console.log(`ha placement, ${lost} host restarted in ${(restartMs / 1000).toFixed(1)} s; ${usernames.length} users and ${rideLocations.length} rides acknowledged so far`);
    await expectAllThere('db', HOSTS, usernames, rideLocations);
  }, 300_000);
});

describe(`faults on the hosts that hold no master (FAULTS_SEED=${SEED})`, () => {
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
    },
    240_000,
  );

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
