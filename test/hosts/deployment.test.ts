/**
 * The deployment across three hosts, started on a bed exactly as docs/hosts.md says
 * (harness/hosts/host-deployment.ts): `npm start -- --host <name>` in each host's namespace.
 *
 * Seed placement (users on users, rides on rides, the database on db): users and rides made
 * through each host's gateway are read back through every gateway; the users host crashes, and
 * through the other gateways the rides routes that do not need users keep answering while the
 * users routes answer 503; after the host is started again everything answers and nothing
 * acknowledged is lost.
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

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const HOSTS = ['users', 'rides', 'db'] as const;
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

describe('three hosts, the seed placement', () => {
  const deployment = new HostDeployment(bed, 'seed', 'seed', LOG_DIR);
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
    // The database host's orchestrator supervises (its workers, its data); the others never take over.
    expect(deployment.output('db')).toContain('"msg":"supervising the cluster"');
    for (const host of ['users', 'rides']) expect(deployment.output(host)).toContain('without supervising');
    // The listing by route is a rides route too: each ride under its own source, through every gateway.
    for (const host of HOSTS) {
      const listed = await send(
        'db',
        HOSTS.map((_, index) => ({ url: `${gateway(host)}/api/v1/rides?source=${10 + index}&destination=7` })),
      );
      expect(listed.map((item) => item.status)).toEqual([200, 200, 200]);
    }
  }, 120_000);

  it('loses the users host: through the other gateways rides routes keep answering and users routes answer 503; back after a restart, nothing acknowledged lost', async () => {
    const crashed = await bed.crash('users');
    const lostAt = Date.now();
    let restarting: Promise<number> | undefined;
    const restart = () => (restarting ??= crashed.restart(async (host) => void (await deployment.start(host))));
    let usersRefusedMs = 0;
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
      for (const host of survivors) {
        const rides = await send('db', [
          ...rideLocations.map((location) => ({ url: `${gateway(host)}${location}` })),
          { url: `${gateway(host)}/api/v1/rides/count` },
          { url: `${gateway(host)}/api/v1/rides?source=11&destination=7` },
        ]);
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
      `seed placement, users host lost: users routes 503 through the others after ${usersRefusedMs} ms; restarted in ${(restartMs / 1000).toFixed(1)} s, users routes answering through every gateway ${Date.now() - backAt} ms later`,
    );
    const [user] = await send('users', [newUser('users', 'seed-after')]);
    expect(user?.status, user?.body).toBe(201);
    usernames.push('seed-after');
    const [ride] = await send('users', [newRide('users', 'seed-after', 13)]);
    expect(ride?.status, ride?.body).toBe(201);
    rideLocations.push(ride?.location as string);
    await expectAllThere('db', HOSTS, usernames, rideLocations);
  }, 300_000);
});
