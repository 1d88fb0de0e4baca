/**
 * A master's commit record in flight when its ZooKeeper link dies (the server it talks to lost,
 * the session going on through a reconnection): with its time bound, as the master writes it, the
 * record is tried again once the link is back and lands; tried once, it fails with the connection
 * loss, which had a master stop on every loss of the one ZooKeeper server it happened to use.
 * The link is a real ZooKeeper behind the fault proxy: the client's connection is silenced (packets
 * held, as by a dead host) until the client gives it up, and its next connection passes, as one to
 * another server of the ensemble would.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { uniqueClusterName } from '../../harness/database-service.ts';
import { TcpProxy } from '../../harness/faults/tcp-proxy.ts';
import { testServers } from '../../harness/inject.ts';
import { TEST_ZK_AUTH } from '../../harness/zk-auth.ts';
import { readCommitRecord, writeCommitRecord } from '../../src/dbaas/coordination/commit-record.ts';
import { acquireMasterLease, type MasterLease } from '../../src/dbaas/coordination/master-lease.ts';
import { isZkError, ZkClient, ZkErrorCode } from '../../src/dbaas/coordination/ZkClient.ts';
import { clusterPaths } from '../../src/dbaas/protocol/names.ts';
import { sleep } from '../../src/shared/timeout.ts';

const SESSION_TIMEOUT_MS = 4000;
/** Past the client's own limit of silence (about a third of the session timeout), short of the session timeout. */
const SILENCE_MS = 2000;

let proxy: TcpProxy;
let zk: ZkClient;
let cluster: string;
let lease: MasterLease;

beforeEach(async () => {
  proxy = new TcpProxy({ targetPort: Number(testServers().zkConnect.split(':').at(-1)) });
  await proxy.start();
  zk = new ZkClient({ connect: `127.0.0.1:${proxy.port}`, sessionTimeoutMs: SESSION_TIMEOUT_MS, credentials: TEST_ZK_AUTH });
  await zk.connect();
  cluster = uniqueClusterName('record-link');
  await zk.ensurePath(clusterPaths(cluster).committed);
  lease = await acquireMasterLease(zk, cluster, { workerId: 'in-test-master', pid: process.pid, localEpoch: 0 });
});

afterEach(async () => {
  zk.close();
  await proxy.stop();
});

/**
 * Silences the client's link and starts `write`; a new connection passes, as one to another
 * server of the ensemble would. The silenced link is released after SILENCE_MS.
 */
async function acrossSilence<T>(write: () => Promise<T>): Promise<PromiseSettledResult<T>> {
  const silenced = proxy.list().map((link) => link.clientPort);
  proxy.partition(silenced);
  const settled = Promise.allSettled([write()]);
  await sleep(SILENCE_MS);
  proxy.heal(silenced);
  return (await settled)[0] as PromiseSettledResult<T>;
}

it('lands once the link is back, within its bound', async () => {
  const record = { epoch: lease.record.epoch, seq: 7 };
  const result = await acrossSilence(() => writeCommitRecord(zk, cluster, lease.epochVersion, record, 3 * SESSION_TIMEOUT_MS));
  expect(result.status, result.status === 'rejected' ? String(result.reason) : '').toBe('fulfilled');
  expect(await readCommitRecord(zk, cluster)).toEqual(record);
}, 30_000);

it('tried once (no bound), fails with the connection loss: what a master stopped on', async () => {
  const result = await acrossSilence(() => writeCommitRecord(zk, cluster, lease.epochVersion, { epoch: lease.record.epoch, seq: 8 }));
  expect(result.status).toBe('rejected');
  expect(isZkError((result as PromiseRejectedResult).reason, ZkErrorCode.CONNECTION_LOSS), String((result as PromiseRejectedResult).reason)).toBe(true);
}, 30_000);
