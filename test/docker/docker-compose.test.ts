/**
 * docker-compose.yml as a user runs it: compose-secrets.sh, `up -d` (RabbitMQ and ZooKeeper from
 * the locally built images), a round trip through the gateway, a crash of the master and a write
 * after it, no secret in any container's `docker inspect`, and `down`, which leaves no container,
 * network or volume. Its own ports, cluster, data folder and secrets, so it disturbs nothing else.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../src/dbaas/runtime/DockerRuntime.ts';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { until } from '../../harness/replicas.ts';
import { dockerEngine, suiteTitle } from '../../harness/docker-engine.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const engine = await dockerEngine('all');
const composeMissing = engine.ok
  ? await run('docker-compose', ['version']).then(
      () => undefined,
      (error: Error) => error.message,
    )
  : undefined;
if (composeMissing && process.env.CI === 'true') throw new Error(`docker-compose is missing under CI (.ci/run installs it): ${composeMissing}`);
const ready = engine.ok && !composeMissing;
const title = composeMissing ? `docker-compose up and down [skipped: no docker-compose: ${composeMissing}]` : suiteTitle('docker-compose up and down', engine);

describe.skipIf(!ready)(title, () => {
  const docker = engine.ok ? engine.docker : undefined!;
  const cluster = uniqueClusterName('compose');
  const project = cluster.toLowerCase().replace(/[^a-z0-9]/g, '');
  // Ports of their own, away from the system's RabbitMQ (5672, 25672, epmd 4369) and other tests.
  const base = 26000 + Math.floor(Math.random() * 50) * 20;
  const ports = { rabbitmq: base, dist: base + 1, epmd: base + 2, zookeeper: base + 3, orchestrator: base + 10, gateway: base + 11, users: base + 12, rides: base + 13 };
  const password = '3d725109c7e7c0bfb9d709836735b56d943d263f';
  let dir: string;
  let envFile: string;
  let secrets: string;
  const compose = (...args: string[]) => run('docker-compose', ['--env-file', envFile, '-p', project, ...args], { cwd: root, timeout: 240_000, env: { ...process.env, RIDESHARE_SECRETS: secrets } });
  const gateway = (route: string) => `http://127.0.0.1:${ports.gateway}${route}`;
  const putUser = (username: string) => fetch(gateway('/api/v1/users'), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-${cluster}-`));
    envFile = path.join(dir, 'env');
    secrets = path.join(dir, 'secrets');
    fs.writeFileSync(
      envFile,
      [
        `RIDESHARE_DATA_DIR=${path.join(dir, 'data')}`,
        `RIDESHARE_CLUSTER=${cluster}`,
        `RABBITMQ_PORT=${ports.rabbitmq}`,
        `RABBITMQ_DIST_PORT=${ports.dist}`,
        `RABBITMQ_EPMD_PORT=${ports.epmd}`,
        `ZK_PORT=${ports.zookeeper}`,
        `ZK_CONNECT=127.0.0.1:${ports.zookeeper}`,
        `ORCHESTRATOR_PORT=${ports.orchestrator}`,
        `GATEWAY_PORT=${ports.gateway}`,
        `USERS_PORT=${ports.users}`,
        `RIDES_PORT=${ports.rides}`,
        'LOG_LEVEL=warn',
        '',
      ].join('\n'),
    );
    await run('bash', [path.join(root, 'docker/compose-secrets.sh'), envFile], { env: { ...process.env, RIDESHARE_SECRETS: secrets, RABBITMQ_PORT: String(ports.rabbitmq) } });
  }, 60_000);

  afterAll(async () => {
    if (!envFile) return;
    await compose('down', '-t', '30').catch(() => undefined);
    // The data folder belongs to the containers' user; root (the test) removes it.
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('up -d starts the gateway once everything below it is healthy; the gateway answers a round trip', async () => {
    const started = Date.now();
    await compose('up', '-d');
    const upMs = Date.now() - started;
    // Compose waits for the health of what the gateway depends on, not for the gateway's own.
    await until(
      () =>
        fetch(gateway('/ready')).then(
          (answer) => answer.status === 200,
          () => false,
        ),
      30_000,
      'the gateway to be ready',
    );
    process.stderr.write(`docker-compose up -d: ${upMs} ms; the gateway ready after ${Date.now() - started} ms\n`);
    const created = await putUser('compose-alice');
    expect(created.status).toBe(201);
    const listed = await fetch(gateway('/api/v1/users'));
    expect(await listed.json()).toEqual(['compose-alice']);
  }, 240_000);

  it('no container shows a secret in docker inspect, and none runs as root', async () => {
    const values = fs.readdirSync(secrets).map((name) => fs.readFileSync(path.join(secrets, name), 'utf8').trim());
    const ours = [
      ...(await docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`] } })),
      ...(await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`] } })),
    ];
    // Six services and at least a master and a slave.
    expect(ours.length).toBeGreaterThanOrEqual(8);
    for (const info of ours) {
      const inspected = await docker.getContainer(info.Id).inspect();
      const text = JSON.stringify(inspected);
      for (const value of values) expect(text.includes(value), `${inspected.Name} shows a secret`).toBe(false);
      expect(inspected.Config.User, `${inspected.Name} runs as root`).toMatch(/^[1-9]\d*:\d+$/);
    }
  });

  it('after a crash of the master, a write through the gateway succeeds', async () => {
    const adminToken = fs.readFileSync(path.join(secrets, 'admin_token'), 'utf8');
    const crash = await fetch(`http://127.0.0.1:${ports.orchestrator}/api/v1/crash/master`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } });
    expect(crash.status).toBe(200);
    // The first write after it may meet the election; it succeeds once a slave has taken over.
    await until(async () => (await putUser('compose-bob')).status === 201, 30_000, 'a write after the crash of the master');
    const listed = await fetch(gateway('/api/v1/users'));
    expect(((await listed.json()) as string[]).sort()).toEqual(['compose-alice', 'compose-bob']);
  }, 60_000);

  it('down leaves no container, network or volume', async () => {
    const started = Date.now();
    await compose('down', '-t', '30');
    process.stderr.write(`docker-compose down: ${Date.now() - started} ms\n`);
    const projectLabel = { label: [`com.docker.compose.project=${project}`] };
    expect(await docker.listContainers({ all: true, filters: projectLabel })).toEqual([]);
    expect(await docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`] } })).toEqual([]);
    expect(await docker.listNetworks({ filters: projectLabel })).toEqual([]);
    expect((await docker.listVolumes({ filters: projectLabel })).Volumes ?? []).toEqual([]);
  }, 120_000);
});
