/**
 * The promotion node: the supervisor names the ready slave that must become master (once the old
 * master is gone or, if the runtime cannot make sure of that, fenced by the successor's bump of
 * /epoch, commit-record.ts); every ready slave watches it and the one named acts.
 */
import { z } from 'zod';
import { clusterPaths } from '../protocol/names.ts';
import { count, id, looseRecord } from './records.ts';
import { CreateMode, isZkError, ZkErrorCode, type ZkClient, type ZkWatcher } from './ZkClient.ts';

/** Written by the supervisor to /promotion when the cluster has no live master. */
const promotionShape = z.object({ workerId: id, requestedAt: count });
export type PromotionRequest = z.infer<typeof promotionShape>;
const promotionRecord = looseRecord(promotionShape);

export async function requestPromotion(zk: ZkClient, cluster: string, workerId: string): Promise<void> {
  const path = clusterPaths(cluster).promotion;
  const request: PromotionRequest = { workerId, requestedAt: Date.now() };
  try {
    await zk.setData(path, request);
  } catch (error) {
    // Made once per cluster: the first promotion creates the node with its request (the ready
    // slaves' watch on its creation fires once, with the request to read), the others write it.
    if (!isZkError(error, ZkErrorCode.NO_NODE)) throw error;
    await zk.ensurePath(path.slice(0, path.lastIndexOf('/')));
    try {
      await zk.create(path, request, CreateMode.PERSISTENT);
    } catch (raced) {
      if (!isZkError(raced, ZkErrorCode.NODE_EXISTS)) throw raced;
      await zk.setData(path, request);
    }
  }
}

/** The current request, if any; `watcher` fires once when the node is created, changed or removed. */
export async function readPromotion(zk: ZkClient, cluster: string, watcher: ZkWatcher): Promise<PromotionRequest | undefined> {
  const path = clusterPaths(cluster).promotion;
  // One read when the node is there (the watch is set only when the read finds it)...
  const node = await zk.readNodeIfExists(path, promotionRecord, watcher);
  if (node) return node.data;
  // ...and when it is not, a watch on its creation (made since: read it, the watch is set).
  const stat = await zk.exists(path, watcher);
  if (!stat) return undefined;
  return (await zk.readNodeIfExists(path, promotionRecord))?.data;
}
