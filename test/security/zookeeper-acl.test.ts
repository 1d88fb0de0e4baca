/**
 * The cluster's znodes carry digest ACLs: an anonymous ZooKeeper client (anyone who reaches the
 * server) may read them but not change the desired slaves, the promotion node, the supervisor
 * lease or a worker's registration, while the cluster goes on working. And the supervisor keeps
 * at most MAX_SLAVES slaves whatever the desired count in ZooKeeper says.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { testServers } from '../../harness/inject.ts';
import { post, put } from '../../harness/http.ts';
import { staysTrue, until } from '../../harness/replicas.ts';
import { digestId } from '../../src/dbaas/coordination/zk-acl.ts';
import { CreateMode, isZkError, ZkClient, ZkErrorCode } from '../../src/dbaas/coordination/ZkClient.ts';
import { listWorkers } from '../../src/dbaas/coordination/worker-registry.ts';
import { clusterPaths, ZK_BASE } from '../../src/dbaas/protocol/names.ts';
import { createLogger } from '../../src/shared/logger.ts';

const MAX_SLAVES = 2;

/** Fails unless `action` is refused by ZooKeeper with NO_AUTH. */
async function refused(action: Promise<unknown>): Promise<void> {
  const outcome = await action.then(
    () => 'done',
    (error: unknown) => (isZkError(error, ZkErrorCode.NO_AUTH) ? 'NO_AUTH' : String(error)),
  );
  expect(outcome).toBe('NO_AUTH');
}

describe('ZooKeeper digest ACLs on the cluster\u2019s znodes', () => {
  let service: DatabaseServiceHandle | undefined;
  let anonymous: ZkClient;
  let authorised: ZkClient;
  const logLines: string[] = [];
  const logger = createLogger(
    'test-orchestrator',
    'info',
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    }),
  );
  const paths = () => clusterPaths(running().cluster);
  const running = (): DatabaseServiceHandle => {
    if (!service) throw new Error('the database service is not running');
    return service;
  };

  beforeAll(async () => {
    // Scaling on, so MAX_SLAVES reaches the supervisor as it does in production; its window never ends here.
    service = await startDatabaseService({ slaves: 1, scaling: { windowMs: 86_400_000, readsPerSlave: 1_000_000, maxSlaves: MAX_SLAVES }, logger });
    anonymous = new ZkClient({ connect: service.zkConnect, sessionTimeoutMs: 4000 });
    authorised = new ZkClient({ connect: service.zkConnect, sessionTimeoutMs: 4000, credentials: service.zkAuth });
    await Promise.all([anonymous.connect(), authorised.connect()]);
  });

  afterAll(async () => {
    await service?.stop();
    anonymous?.close();
    authorised?.close();
  });

  it('gives every znode of the cluster ALL for its digest identity and READ for anyone; anyone may add a cluster under /rideshare', async () => {
    const owner = `digest ${digestId(running().zkAuth)} 31`;
    // ZooKeeper shows a digest's hash only to those with ADMIN on the node (anyone else sees `rideshare:x`).
    const describe = async (path: string) =>
      ((await authorised.getAclIfExists(path))?.acls ?? []).map((acl) => {
        const perms = (acl as unknown as { permission: number }).permission;
        return `${acl.id.scheme} ${acl.id.id} ${perms}`;
      });
    for (const path of [paths().root, paths().workers, paths().desiredSlaves, paths().epoch, paths().supervisor, paths().master]) {
      expect(await describe(path), path).toEqual([owner, 'world anyone 1']);
    }
    // READ | CREATE: clusters with credentials of their own share one server.
    expect(await describe(ZK_BASE)).toContain('world anyone 5');
    // Monitoring may read.
    expect((await anonymous.getData<number>(paths().desiredSlaves)).data).toBe(1);
    expect(running().zkAuth.password).not.toBe('');
  });

  it('refuses an anonymous client the desired slaves, the promotion node and the supervisor lease', async () => {
    await refused(anonymous.setData(paths().desiredSlaves, 40));
    expect((await anonymous.getData<number>(paths().desiredSlaves)).data).toBe(1);

    // No failover yet: there is no promotion node, and nobody else may make one.
    expect(await anonymous.exists(paths().promotion)).toBeNull();
    await refused(anonymous.create(paths().promotion, { workerId: 'intruder', requestedAt: Date.now() }, CreateMode.PERSISTENT));
    // One made by the cluster (naming no worker, so nobody acts on it) cannot be changed or removed either.
    await authorised.create(paths().promotion, { workerId: 'nobody', requestedAt: Date.now() }, CreateMode.PERSISTENT);
    await refused(anonymous.setData(paths().promotion, { workerId: 'intruder', requestedAt: Date.now() }));
    await refused(anonymous.remove(paths().promotion));
    expect((await anonymous.getData<{ workerId: string }>(paths().promotion)).data?.workerId).toBe('nobody');
    await authorised.remove(paths().promotion);

    // The lease is held: it can be neither taken over nor removed.
    await refused(anonymous.remove(paths().supervisor));
    await refused(anonymous.setData(paths().supervisor, { orchestratorId: 'intruder', pid: 1 }));
  });

  it('refuses an anonymous client the removal of a worker\u2019s registration and of the master lease', async () => {
    const workers = await listWorkers(anonymous, running().cluster);
    expect(workers.map((worker) => worker.role).sort()).toEqual(['master', 'slave']);
    for (const worker of workers) {
      await refused(anonymous.remove(paths().workerNode(worker.workerId)));
      await refused(anonymous.setData(paths().workerNode(worker.workerId), { ...worker, ready: false }));
    }
    await refused(anonymous.remove(paths().master));
    expect((await listWorkers(anonymous, running().cluster)).length).toBe(2);
  });

  it('keeps working meanwhile: a write and a read through the orchestrator', async () => {
    const url = running().orchestratorUrl;
    const password = 'd'.repeat(40);
    const write = await post<{ seq: number; changes: number }>(`${url}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'acl-alice', password } });
    expect(write.status).toBe(200);
    expect(write.body.changes).toBe(1);
    const read = await post<{ rows: unknown[] }>(`${url}/api/v1/db/read`, { table: 'users', where: { username: 'acl-alice' }, minSeq: write.body.seq });
    expect(read.status).toBe(200);
    expect(read.body.rows).toEqual([{ username: 'acl-alice', password }]);
  });

  it('clamps desired slaves above MAX_SLAVES, even from an authorised writer, and says so', async () => {
    await authorised.setData(paths().desiredSlaves, 50);
    const readySlaves = async () => (await listWorkers(anonymous, running().cluster)).filter((worker) => worker.role === 'slave' && worker.ready).length;
    await until(async () => (await readySlaves()) === MAX_SLAVES, 60_000, `${MAX_SLAVES} ready slaves`);
    // The master and MAX_SLAVES slaves, no more started, for several reconcile passes.
    await staysTrue(() => running().runtime.list().length === 1 + MAX_SLAVES, 3000, 'at most MAX_SLAVES slaves running');
    const clamped = logLines.filter((line) => line.includes('beyond MAX_SLAVES'));
    expect(clamped.length).toBe(1);
    expect(JSON.parse(clamped[0] as string)).toMatchObject({ stored: 50, maxSlaves: MAX_SLAVES, wanted: MAX_SLAVES });
  });

  it('takes a desired-slaves node that holds no count as holding none (the initial count), and says so once', async () => {
    await authorised.setData(paths().desiredSlaves, 'lots');
    const readySlaves = async () => (await listWorkers(anonymous, running().cluster)).filter((worker) => worker.role === 'slave' && worker.ready).length;
    // Settled: one ready slave registered, and the retired one's process gone too.
    await until(async () => ((await readySlaves()) === 1 && running().runtime.list().length === 2 ? true : undefined), 60_000, 'back to the initial slave');
    await staysTrue(() => running().runtime.list().length === 2, 2000, 'one master and one slave');
    const ignored = logLines.filter((line) => line.includes('ignoring a znode whose data has not the expected shape'));
    expect(ignored.length).toBe(1);
    expect(JSON.parse(ignored[0] as string)).toMatchObject({ path: paths().desiredSlaves });
    await authorised.setData(paths().desiredSlaves, 1);
  });

  it('refuses an anonymous client the supervisor lease once it is free', async () => {
    const { cluster } = running();
    await running().stop();
    service = undefined;
    const lease = clusterPaths(cluster).supervisor;
    expect(await anonymous.exists(lease)).toBeNull();
    await refused(anonymous.create(lease, { orchestratorId: 'intruder', pid: 1 }, CreateMode.EPHEMERAL));
    await refused(anonymous.create(clusterPaths(cluster).master, { workerId: 'intruder', pid: 1, epoch: 99 }, CreateMode.EPHEMERAL));
    expect(await anonymous.exists(lease)).toBeNull();
  });
});

/** A stand-in for whoever would receive the admin calls: it answers 200 and keeps what it was sent. */
async function startIntruder(): Promise<{ url: string; received: Array<{ url: string; authorization: string | undefined }>; close: () => Promise<void> }> {
  const received: Array<{ url: string; authorization: string | undefined }> = [];
  const server = http.createServer((request, response) => {
    received.push({ url: request.url ?? '', authorization: request.headers.authorization });
    request.resume();
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** What someone who reaches ZooKeeper before the cluster's first start can leave: a root open to all, naming them supervisor. */
async function poseAsSupervisor(anonymous: ZkClient, cluster: string, url: string): Promise<void> {
  const paths = clusterPaths(cluster);
  await anonymous.ensurePath(paths.orchestrators);
  await anonymous.create(paths.supervisor, { orchestratorId: 'intruder', pid: 1, url }, CreateMode.EPHEMERAL);
  await anonymous.create(paths.orchestratorNode('intruder'), { orchestratorId: 'intruder', pid: 1, url, startedAt: Date.now() }, CreateMode.EPHEMERAL);
}

/** Fails unless the start is refused; a service that started anyway is stopped. */
async function refusedToStart(start: Promise<DatabaseServiceHandle>): Promise<Error> {
  const outcome = await start.then(
    async (service) => {
      await service.stop();
      return undefined;
    },
    (error: unknown) => error as Error,
  );
  if (!outcome) throw new Error('the orchestrator started');
  return outcome;
}

describe('a cluster root the cluster did not make', () => {
  const ZK_AUTH = `rideshare-root-test:${'r'.repeat(24)}`;
  let anonymous: ZkClient;
  let intruder: Awaited<ReturnType<typeof startIntruder>>;

  beforeAll(async () => {
    anonymous = new ZkClient({ connect: testServers().zkConnect, sessionTimeoutMs: 4000 });
    await anonymous.connect();
    intruder = await startIntruder();
  });

  afterAll(async () => {
    anonymous?.close();
    await intruder?.close();
  });

  it('an open root holding an intruder\u2019s supervisor record: the orchestrator refuses to start, says what is wrong and how to fix it, and sends the intruder nothing', async () => {
    const cluster = uniqueClusterName('open-root');
    const { root } = clusterPaths(cluster);
    await poseAsSupervisor(anonymous, cluster, intruder.url);
    const error = await refusedToStart(startDatabaseService({ cluster, slaves: 0, env: { ZK_AUTH } }));
    expect(error.message).toContain(`${root} in ZooKeeper was not made by this cluster`);
    expect(error.message).toContain('world:anyone=31');
    expect(error.message).toContain(`deleteall ${root}`);
    expect((error as { code?: string }).code).toBe('CONFLICT');
    expect(intruder.received).toEqual([]);
  });

  it('a root that other credentials made is refused the same way', async () => {
    const cluster = uniqueClusterName('other-root');
    const other = new ZkClient({ connect: testServers().zkConnect, sessionTimeoutMs: 4000, credentials: { user: 'someone-else', password: 'another-password' } });
    await other.connect();
    try {
      await other.ensurePath(clusterPaths(cluster).root);
      const error = await refusedToStart(startDatabaseService({ cluster, slaves: 0, env: { ZK_AUTH } }));
      expect(error.message).toContain(`${clusterPaths(cluster).root} in ZooKeeper was not made by this cluster`);
    } finally {
      other.close();
    }
  });

  it('a standby passes no admin call, nor its Authorization header, to a supervisor record the cluster\u2019s credentials did not write', async () => {
    const cluster = uniqueClusterName('posed');
    const paths = clusterPaths(cluster);
    await poseAsSupervisor(anonymous, cluster, intruder.url);
    // As an earlier version's supervisor did to the open nodes it found: the root is now the cluster's, the intruder's ephemeral records remain.
    const colon = ZK_AUTH.indexOf(':');
    const owner = new ZkClient({ connect: testServers().zkConnect, sessionTimeoutMs: 4000, credentials: { user: ZK_AUTH.slice(0, colon), password: ZK_AUTH.slice(colon + 1) } });
    await owner.connect();
    let service: DatabaseServiceHandle | undefined;
    try {
      await owner.setAcl(paths.root);
      service = await startDatabaseService({ cluster, slaves: 0, env: { ZK_AUTH, RIDESHARE_AUTH: 'on' } });
      expect(service.orchestrator.isSupervising).toBe(false);
      await put(`${service.orchestratorUrl}/api/v1/scaling/slaves`, { slaves: 1 }, { headers: { authorization: `Bearer ${service.tokens?.admin}` } });
      expect(intruder.received).toEqual([]);
    } finally {
      await service?.stop();
      owner.close();
    }
  });
});
