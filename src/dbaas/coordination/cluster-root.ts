/**
 * The cluster's root znode (/rideshare/<cluster>) must be the cluster's own. Before a cluster's
 * first start anyone who reaches ZooKeeper could make it open to all and put an ephemeral
 * supervisor record in it naming their own URL: the real orchestrator would then stand by for
 * ever and pass the operator's admin calls, Authorization header included, to that URL. So an
 * orchestrator makes the root itself (with the cluster's ACL) or finds it carrying exactly that
 * ACL, and refuses to start otherwise; and a standby passes a call on only to an orchestrator
 * whose supervisor lease and announcement carry the cluster's ACL too.
 */
import { RideShareError } from '../../shared/errors.ts';
import { clusterPaths } from '../protocol/names.ts';
import { describeAcl, digestId, isClusterAcl, type ZkCredentials } from './zk-acl.ts';
import type { ZkClient } from './ZkClient.ts';

/** The cluster's root exists with an ACL the cluster did not give it. */
export class ForeignClusterRootError extends RideShareError {
  constructor(root: string, acl: string, credentials: ZkCredentials) {
    super(
      'CONFLICT',
      `${root} in ZooKeeper was not made by this cluster: its ACL is [${acl}], not ALL for digest:${digestId(credentials)} and READ ` +
        'for anyone. Someone (or a RideShare version older than the cluster credentials) made it; an open root lets anyone pose as ' +
        `the cluster's supervisor and receive the admin calls. Check who made it (zkCli.sh: getAcl ${root}; get ${root}/supervisor), ` +
        `then delete it (zkCli.sh: deleteall ${root}) with every orchestrator of the cluster stopped, and start again (docs/security.md)`,
    );
  }
}

/** Makes the cluster's root (with the cluster's ACL) if it is missing, and refuses one that is not the cluster's. */
export async function ensureOwnClusterRoot(zk: ZkClient, cluster: string, credentials: ZkCredentials): Promise<void> {
  const { root } = clusterPaths(cluster);
  await zk.ensurePath(root);
  const node = await zk.getAclIfExists(root);
  // Removed again between the two calls: only the cluster's credentials or a superuser can do that.
  if (!node) throw new ForeignClusterRootError(root, 'none: the node vanished as it was checked', credentials);
  if (!isClusterAcl(root, node.acls, credentials)) throw new ForeignClusterRootError(root, describeAcl(node.acls), credentials);
}

/**
 * Every one of these nodes exists and carries the cluster's ACL: what they say was written by a
 * holder of the cluster's credentials. False on the first that does not.
 */
export async function madeByCluster(zk: ZkClient, paths: readonly string[], credentials: ZkCredentials): Promise<boolean> {
  for (const path of paths) {
    const node = await zk.getAclIfExists(path);
    if (!node || !isClusterAcl(path, node.acls, credentials)) return false;
  }
  return true;
}
