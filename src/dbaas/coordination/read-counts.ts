/**
 * Read counts in ZooKeeper: each orchestrator publishes the running total of db/read requests it
 * has received, one persistent child per orchestrator; the autoscaler adds them up. Totals only
 * grow, so a window's reads are a difference of sums.
 */
import { z } from 'zod';
import { clusterPaths } from '../protocol/names.ts';
import { count, looseRecord } from './records.ts';
import type { ZkClient } from './ZkClient.ts';

const countShape = z.object({ total: count });
type CountNode = z.infer<typeof countShape>;
const readCountRecord = looseRecord(countShape);

export async function publishReadCount(zk: ZkClient, cluster: string, orchestratorId: string, total: number): Promise<void> {
  const node = `${clusterPaths(cluster).readCounts}/${orchestratorId}`;
  await zk.ensurePath(node);
  await zk.setData(node, { total } satisfies CountNode);
}

/** The reads every orchestrator has published so far, added up. */
export async function totalReads(zk: ZkClient, cluster: string): Promise<number> {
  const root = clusterPaths(cluster).readCounts;
  const children = await zk.getChildrenIfExists(root);
  const nodes = await Promise.all(children.map((child) => zk.readNodeIfExists(`${root}/${child}`, readCountRecord)));
  return nodes.reduce((sum, node) => sum + (node?.data?.total ?? 0), 0);
}
