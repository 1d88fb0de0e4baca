/**
 * Every running orchestrator of a cluster announces itself in an ephemeral znode, so any of them
 * can tell an operator who supervises and who stands by (GET /api/v1/cluster). The node vanishes
 * with the orchestrator's session and is written again when a new session opens.
 */
import { z } from 'zod';
import { clusterPaths } from '../protocol/names.ts';
import { count, id, looseRecord, pid } from './records.ts';
import { CreateMode, type ZkClient } from './ZkClient.ts';

const orchestratorShape = z.object({
  orchestratorId: id,
  pid,
  /** The address its HTTP API answers on. */
  url: z.string().max(2000),
  startedAt: count,
});
export type OrchestratorRecord = z.infer<typeof orchestratorShape>;
const orchestratorRecord = looseRecord(orchestratorShape);

export async function announceOrchestrator(zk: ZkClient, cluster: string, record: OrchestratorRecord): Promise<void> {
  const paths = clusterPaths(cluster);
  await zk.ensurePath(paths.orchestrators);
  const node = paths.orchestratorNode(record.orchestratorId);
  await zk.removeIfExists(node);
  await zk.create(node, record, CreateMode.EPHEMERAL);
}

export async function withdrawOrchestrator(zk: ZkClient, cluster: string, orchestratorId: string): Promise<void> {
  await zk.removeIfExists(clusterPaths(cluster).orchestratorNode(orchestratorId));
}

export async function listOrchestrators(zk: ZkClient, cluster: string): Promise<OrchestratorRecord[]> {
  const paths = clusterPaths(cluster);
  const ids = await zk.getChildrenIfExists(paths.orchestrators);
  const records = await Promise.all(ids.map(async (id) => (await zk.readNodeIfExists(paths.orchestratorNode(id), orchestratorRecord))?.data));
  return records.filter((record): record is OrchestratorRecord => record !== undefined);
}
