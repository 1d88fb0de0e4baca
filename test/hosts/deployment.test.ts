/**
 * The deployment across three hosts, started on a bed exactly as docs/hosts.md says
 * (harness/hosts/host-deployment.ts): `npm start -- --host <name>` in each host's namespace.
 *
 * Seed placement (users on users, rides on rides, the database on db): users and rides made
 * through each host's gateway are read back through every gateway; the database's master runs on
 * db and its slaves on the other hosts, each started by its own host's orchestrator (the host's
 * agent); the users host crashes with its slave, and through the other gateways the rides routes
 * that do not need users keep answering while the users routes answer 503, the database takes
 * writes and the lost slave is replaced on a host still up; after the host is started again
 * everything answers, nothing acknowledged is lost and every replica, on whichever host, holds
 * the same rows.
 *
 * The highly available placement runs in bed-faults.test.ts, with the bed's fault rounds.
 *
 * One bed for the file; the placement forms its own cluster (20-40 s here).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayRequest, GatewayRequests } from '../../harness/hosts/gateway-requests.ts';
import { HostDeployment } from '../../harness/hosts/host-deployment.ts';
import { TestBed } from '../../harness/hosts/TestBed.ts';
import { until } from '../../harness/replicas.ts';
import { describePlacement, placedWorkers, replicasOnHosts, type PlacedWorker } from '../../harness/hosts/worker-placement.ts';
import { readFileSync } from 'node:fs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const HOSTS = ['users', 'rides', 'db'] as const;
/** A password the database's users table takes (40 hexadecimal digits). */
const PASSWORD = 'a'.repeat(40);
const bed = new TestBed({ name: `d${process.pid}`, subnet: '10.78.0.0/24' });
/** DEPLOYMENT_LOG_DIR=<folder> keeps every host's output there, to read after a failed run. */
const LOG_DIR = process.env.DEPLOYMENT_LOG_DIR;

const requests = new GatewayRequests(bed);
const gateway = (host: string) => requests.gateway(host);
const send = (from: string, list: GatewayRequest[]) => requests.send(from, list);
const newUser = (host: string, username: string) => requests.newUser(host, username);
const newRide = (host: string, createdBy: string, source: number) => requests.newRide(host, createdBy, source);

/** Every user named is listed, and every ride found, through the gateway of every host in `through`. */
async function expectAllThere(from: string, through: readonly string[], usernames: readonly string[], rideLocations: readonly string[]): Promise<void> {
  expect(await requests.missingThrough(from, through, usernames, rideLocations)).toEqual([]);
}

/**
 * docs/hosts.md's check that a deployment is up: every host's gateway answers `GET /ready` 200 once
 * each route has a live instance on some host (a gateway learns of the others' instances by its
 * health checks, a moment after they listen).
 */
async function everyGatewayReady(): Promise<void> {
  await until(
    async () => {
      const answers = await send(
        'db',
        HOSTS.map((host) => ({ label: host, method: 'GET', url: `${gateway(host)}/ready` })),
      );
      return answers.length === HOSTS.length && answers.every((answer) => answer.status === 200) ? true : undefined;
    },
    60_000,
    'every gateway ready',
  );
}

function figuresOf(deployment: HostDeployment, times: Record<string, number>): string {
  return HOSTS.map((host) => {
    const memory = deployment.memory(host);
    const programs = Object.entries(memory.byProgram)
      .map(([program, kib]) => `${program} ${(kib / 1024).toFixed(0)}`)
      .join(', ');
    return `${host}: up in ${((times[host] ?? 0) / 1000).toFixed(1)} s, ${(memory.totalKiB / 1024).toFixed(0)} MiB resident (${programs})`;
  }).join('\n');
}

beforeAll(async () => {
  await bed.up();
  // Built once here, so the three hosts' `npm start` find dist/ current instead of building it together.
  execFileSync('node', ['scripts/build.mjs'], { cwd: REPO, stdio: 'pipe' });
}, 180_000);

afterAll(async () => {
  await bed.down();
}, 120_000);

/** The database's workers as the db host's supervisor lists them, each with the host that runs it. */
const workersNow = () => placedWorkers(bed, requests, 'db', 'db').then((workers) => workers ?? []);
const orchestratorOf = (host: string) => `http://${bed.address(host)}:8000`;
const tokenOf = (deployment: HostDeployment, name: 'service' | 'admin') => readFileSync(path.join(deployment.dataDirs.get('db') as string, 'secrets', `${name}.token`), 'utf8').trim();
/** The master on db and `slaves` ready slaves, none on a host of `notOn`: what the supervisor keeps. */
const placedAsAsked = (workers: readonly PlacedWorker[], slaves: number, notOn: readonly string[] = []) =>
  workers.length === 1 + slaves &&
  workers.every((worker) => worker.ready && worker.host !== undefined && !notOn.includes(worker.host)) &&
  workers
    .filter((worker) => worker.role === 'master')
    .map((worker) => worker.host)
    .join() === 'db';

describe('three hosts, the seed placement', () => {
  // The slaves stay as the test sets them: the autoscaler's first window would end after an hour.
  const deployment = new HostDeployment(bed, 'seed', 'seed', LOG_DIR, { SCALE_WINDOW_SECONDS: '3600' });
  const usernames: string[] = [];
  const rideLocations: string[] = [];

  beforeAll(async () => {
    deployment.prepare();
    const times = await Promise.all(HOSTS.map(async (host) => [host, await deployment.start(host)] as const));
    console.log(`seed placement, every host started at once:\n${figuresOf(deployment, Object.fromEntries(times))}`);
    await everyGatewayReady();
  }, 300_000);

  afterAll(async () => {
    const stops = await Promise.all(HOSTS.map(async (host) => `${host} ${((await deployment.stop(host)) / 1000).toFixed(1)} s`));
    console.log(`seed placement stopped (SIGTERM to each npm start, all at once): ${stops.join(', ')}`);
  }, 120_000);

  it("takes users and rides through each host's gateway and gives each back through every gateway", async () => {
    for (const [index, host] of HOSTS.entries()) {
      const [user] = await send(host, [newUser(host, `seed-${host}`)]);
      expect(user?.status, user?.body).toBe(201);
      usernames.push(`seed-${host}`);
      const [ride] = await send(host, [newRide(host, `seed-${host}`, 10 + index)]);
      expect(ride?.status, ride?.body).toBe(201);
      expect(ride?.location).toMatch(/^\/api\/v1\/rides\/\d+$/);
      rideLocations.push(ride?.location as string);
    }
    await expectAllThere('db', HOSTS, usernames, rideLocations);
    // The database host's orchestrator supervises (its workers, its data); the others stand by to take over a running cluster.
    expect(deployment.output('db')).toContain('"msg":"supervising the cluster"');
    for (const host of ['users', 'rides']) expect(deployment.output(host)).toContain('another orchestrator supervises; standing by');
    // The listing by route is a rides route too: each ride under its own source, through every gateway.
    for (const host of HOSTS) {
      const listed = await send(
        'db',
        HOSTS.map((_, index) => ({ url: `${gateway(host)}/api/v1/rides?source=${10 + index}&destination=7` })),
      );
      expect(listed.map((item) => item.status)).toEqual([200, 200, 200]);
    }
  }, 120_000);

  it("runs the master on the db host and, asked for two slaves, one on each other host, each started by that host's orchestrator", async () => {
    const [scaled] = await send('db', [
      { method: 'PUT', url: `${orchestratorOf('db')}/api/v1/scaling/slaves`, body: { slaves: 2 }, headers: { authorization: `Bearer ${tokenOf(deployment, 'admin')}` } },
    ]);
    expect(scaled?.status, scaled?.body).toBe(200);
    const workers = await until(
      async () => {
        const now = await workersNow();
        return placedAsAsked(now, 2) ? now : undefined;
      },
      60_000,
      'the master on db and a ready slave on each other host',
    );
    console.log(`seed placement, where the workers run: ${describePlacement(workers)}`);
    expect(
      workers
        .filter((worker) => worker.role === 'slave')
        .map((worker) => worker.host)
        .sort(),
    ).toEqual(['rides', 'users']);
    // Each host's own orchestrator started its slave; none reached a process of another host.
    for (const host of ['users', 'rides']) expect(deployment.output(host)).toContain('"msg":"started an assigned worker"');
  }, 120_000);

  it('loses the users host and its slave: rides routes keep answering and users routes answer 503 through the other gateways, the database takes writes and replaces the slave on a host still up; back after a restart, nothing acknowledged lost and every replica the same', async () => {
    const before = await workersNow();
    expect(describePlacement(before)).toContain('slave@users');
    const crashed = await bed.crash('users');
    const lostAt = Date.now();
    // Watched from the loss on, beside the other checks: the lost slave's session expires and the
    // supervisor starts its successor on a host still up.
    const slaveReplaced = until(
      async () => {
        const now = await workersNow();
        return placedAsAsked(now, 2, ['users']) ? { workers: now, at: Date.now() } : undefined;
      },
      120_000,
      'the lost slave replaced on a host still up',
    );
    slaveReplaced.catch(() => undefined);
    let restarting: Promise<number> | undefined;
    const restart = () => (restarting ??= crashed.restart(async (host) => void (await deployment.start(host))));
    let usersRefusedMs = 0;
    let slaveHealMs = 0;
    let placementWhileLost = '';
    let ridesBackMs = 0;
    let ridesFailed = 0;
    try {
      const survivors = ['rides', 'db'] as const;
      // The gateways notice the silent instance (health checks, UPSTREAM_CHECK_MS) and answer 503 at once.
      const refused = await until(
        async () => {
          const answers = await send(
            'db',
            survivors.map((host) => ({ url: `${gateway(host)}/api/v1/users` })),
          );
          return answers.every((answer) => answer.status === 503 && answer.ms < 1000) ? answers : undefined;
        },
        30_000,
        'users routes answering 503 through the other gateways',
      );
      // When the first answers that met it came (the probes themselves take a while to start on a loaded machine).
      usersRefusedMs = Math.max(...refused.map((answer) => answer.at + answer.ms)) - lostAt;
      // A read the lost slave had taken is answered 503 once its 5 s are up, until the broker counts
      // the lost host's node gone and hands its reads to the others: every rides route answers
      // again within a bound, and every answer from then on is 200.
      const ridesRoutes = (host: string) => [
        ...rideLocations.map((location) => ({ url: `${gateway(host)}${location}` })),
        { url: `${gateway(host)}/api/v1/rides/count` },
        { url: `${gateway(host)}/api/v1/rides?source=11&destination=7` },
      ];
      const readFailures: string[] = [];
      await until(
        async () => {
          const answers = await send('db', survivors.flatMap(ridesRoutes));
          const failed = answers.filter((ride) => ride.status !== 200);
          readFailures.push(...failed.map((ride) => `${ride.at - lostAt} ms ${ride.status}`));
          return failed.length === 0 ? true : undefined;
        },
        40_000,
        'every rides route answering through the other gateways',
      );
      ridesBackMs = Date.now() - lostAt;
      ridesFailed = readFailures.length;
      for (const host of survivors) {
        const rides = await send('db', ridesRoutes(host));
        expect(
          rides.filter((ride) => ride.status !== 200).map((ride) => `${ride.url} ${ride.status} ${ride.body}`),
          `rides routes through ${host}`,
        ).toEqual([]);
        expect(JSON.parse(rides.at(-2)?.body ?? '[]')).toEqual([rideLocations.length]);
        const [user] = await send('db', [newUser(host, `seed-lost-${host}`)]);
        expect(user?.status).toBe(503);
      }
      // A new ride needs its creator checked by the users service: 503 while it is gone (not "unknown user").
      const [orphan] = await send('db', [newRide('rides', 'seed-rides', 20)]);
      expect(orphan?.status, orphan?.body).toBe(503);
      // The database itself takes writes through the orchestrators still up, its slave on users lost or not.
      const service = { authorization: `Bearer ${tokenOf(deployment, 'service')}` };
      for (const host of survivors) {
        const username = `seed-while-lost-${host}`;
        const [write] = await send('db', [
          { method: 'POST', url: `${orchestratorOf(host)}/api/v1/db/write`, body: { op: 'insert', table: 'users', values: { username, password: PASSWORD } }, headers: service },
        ]);
        expect(write?.status, write?.body).toBe(200);
        usernames.push(username);
      }
      const healed = await slaveReplaced;
      slaveHealMs = healed.at - lostAt;
      placementWhileLost = describePlacement(healed.workers);
    } finally {
      // Whatever failed meanwhile, the host comes back: the next placement starts in this bed.
      await restart();
    }

    const restartMs = await restart();
    const backAt = Date.now();
    await until(
      async () => {
        const answers = await send(
          'db',
          HOSTS.map((host) => ({ url: `${gateway(host)}/api/v1/users` })),
        );
        return answers.every((answer) => answer.status === 200) ? answers : undefined;
      },
      30_000,
      'users routes answering again through every gateway',
    );
    console.log(
      `seed placement, users host lost (workers before: ${describePlacement(before)}): users routes 503 through the others after ${usersRefusedMs} ms; ` +
        `rides routes all answering again ${ridesBackMs} ms after the loss (${ridesFailed} answers not 200 before); ` +
        `the lost slave replaced ${slaveHealMs} ms after the loss (${placementWhileLost}); restarted in ${(restartMs / 1000).toFixed(1)} s, users routes answering through every gateway ${Date.now() - backAt} ms later`,
    );
    const [user] = await send('users', [newUser('users', 'seed-after')]);
    expect(user?.status, user?.body).toBe(201);
    usernames.push('seed-after');
    const [ride] = await send('users', [newRide('users', 'seed-after', 13)]);
    expect(ride?.status, ride?.body).toBe(201);
    rideLocations.push(ride?.location as string);
    await expectAllThere('db', HOSTS, usernames, rideLocations);
    // Every replica, on whichever host its agent keeps it, holds the same rows once they are at one position.
    const settled = await until(
      async () => {
        const now = await workersNow();
        return placedAsAsked(now, 2) && new Set(now.map((worker) => worker.appliedSeq)).size === 1 ? now : undefined;
      },
      60_000,
      'every worker ready at one position',
    );
    const replicas = replicasOnHosts(
      deployment,
      settled.map((worker) => worker.workerId),
    );
    expect(replicas.map((replica) => replica.workerId).sort()).toEqual(settled.map((worker) => worker.workerId).sort());
    expect(
      new Set(replicas.map((replica) => `${replica.appliedSeq} ${replica.checksum}`)).size,
      JSON.stringify(replicas.map((replica) => [replica.workerId, replica.appliedSeq, replica.counts])),
    ).toBe(1);
    console.log(
      `seed placement after the restart: ${describePlacement(settled)}; ${replicas.length} replicas at seq ${replicas[0]?.appliedSeq}, ${usernames.length} users and ${rideLocations.length} rides acknowledged, none missing`,
    );
  }, 300_000);
});
