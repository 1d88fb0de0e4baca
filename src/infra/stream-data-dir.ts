/**
 * Where a cluster node keeps its streams' data (the sync log's replica): `<node folder>/stream`,
 * beside its database folder (`mnesia/<node>`) instead of RabbitMQ's default inside it
 * (RABBITMQ_STREAM_DIR, read by RabbitMQ 3.10's own environment).
 *
 * Why: a node decides on its boot whether it is new by looking at its database folder. Empty (or
 * holding only what RabbitMQ 3.10 lists as ignorable: the `quorum` and `coordination` Raft folders,
 * the cluster status and feature flag files), it joins the nodes peer discovery names; anything
 * else, and it boots from its own database, which a wiped node does not have: it forms a cluster of
 * its own. A node back blank after its disk was lost is forgotten by its peers first
 * (blank-node-rejoin.ts), but the streams still list it as a replica, and the stream coordinator
 * restarts that replica on it as soon as it connects, which made `stream` in its database folder
 * before the database boot step: on the test bed, 4 wiped rounds of 7 booted apart and were reset
 * and rejoined only 75-85 s later (rabbit-membership.ts). Outside that folder the replica is
 * still restarted (and catches up from the stream's leader) but no longer hides that the node is
 * new, so it joins at once.
 *
 * Removing the former self from every stream before the node starts (`rabbitmq-streams
 * delete_replica` from a peer) was the other way: it needs the stream coordinator to be available
 * at that moment, and in 3.10 a replica deleted while its node is down stays a member marked for
 * deletion until that node is back, while the stream's other replicas are stopped and restarted
 * under a new epoch (the sync log paused for the master); the folder's place needs nothing at run
 * time and holds for every stream.
 */
import { access, mkdir, rename } from 'node:fs/promises';
import path from 'node:path';

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/**
 * The node's stream folder, made if missing. A node that kept its streams inside its database
 * folder (RabbitMQ's default, before this) has that folder moved here, so that it restarts with
 * its replicas' data instead of an empty log: a rename within the node's folder, done before the
 * node starts.
 */
export async function prepareStreamDataDir(nodeDir: string, node: string): Promise<string> {
  const dir = path.join(nodeDir, 'stream');
  const inDatabase = path.join(nodeDir, 'mnesia', node, 'stream');
  if (!(await exists(dir)) && (await exists(inDatabase))) await rename(inDatabase, dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}
