/**
 * A process that reads the cluster's clock (src/dbaas/coordination/ClusterClock.ts) and answers
 * each line on stdin with `[its wall clock, the cluster's clock]`: run under a faked wall clock,
 * it shows what a process of a host whose clock is off reads. ZK_CONNECT, ZK_USER, ZK_PASSWORD
 * and CLUSTER come from the environment.
 */
import { createInterface } from 'node:readline';
import { ClusterClock } from '../../src/dbaas/coordination/ClusterClock.ts';
import { ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';
import { clusterPaths } from '../../src/dbaas/protocol/names.ts';
import { createLogger } from '../../src/shared/logger.ts';

const zk = new ZkClient({ connect: process.env.ZK_CONNECT as string, sessionTimeoutMs: 4000, credentials: { user: process.env.ZK_USER as string, password: process.env.ZK_PASSWORD as string } });
const clock = new ClusterClock(clusterPaths(process.env.CLUSTER as string).clock, createLogger('clock-probe', 'silent'));
await zk.connect();
await clock.start(zk);
createInterface({ input: process.stdin })
  .on('line', () => console.log(JSON.stringify([Date.now(), clock.now()])))
  .on('close', () => {
    clock.stop();
    zk.close();
  });
console.log('ready');
