/**
 * Securing a cluster older than its credentials. Znodes made before the cluster had credentials
 * grant ALL to anyone: those get the cluster's ACL (anyone could change them, so the cluster may). /rideshare and every persistent node of the
 * cluster are looked at; ephemeral nodes end with their sessions and are left alone, as are
 * nodes that already belong to some credentials. Returns the paths it secured.
 */
import { clusterPaths, ZK_BASE } from '../protocol/names.ts';
import { isOpen } from './zk-acl.ts';
import type { ZkClient } from './ZkClient.ts';

export async function secureOpenNodes(zk: ZkClient, cluster: string): Promise<string[]> {
  const secured: string[] = [];
  const visit = async (path: string, recurse: boolean): Promise<void> => {
    const node = await zk.getAclIfExists(path);
    if (!node) return;
    if (!node.ephemeral && isOpen(path, node.acls)) {
      await zk.setAcl(path, node.aversion);
      secured.push(path);
    }
    if (!recurse) return;
    for (const child of await zk.getChildrenIfExists(path)) await visit(`${path}/${child}`, true);
  };
  await visit(ZK_BASE, false);
  await visit(clusterPaths(cluster).root, true);
  return secured;
}
