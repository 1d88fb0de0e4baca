/**
 * A host whose RabbitMQ node starts with no database of its own (its disk lost, or a new machine
 * under the same name) while the cluster still counts the old node as a member: the others keep it
 * among the members of every quorum queue and stream, and on the test bed the Raft groups whose
 * leader it had been elected no new leader for minutes once a blank node of that name was back
 * (RabbitMQ 3.10), so the database could neither take writes nor promote. RabbitMQ's clustering
 * guide asks for a reset node to be forgotten by the cluster before it joins again; so before such
 * a node starts, a running peer forgets it (`rabbitmqctl forget_cluster_node`, run from this host
 * against the peer: the CLI reaches any node of the cluster with the cluster's cookie). The host's
 * start then adds the new node to every quorum queue and stream, as for any node that joins late.
 * A peer that never knew the node (the deployment's first start) or cannot be reached is no
 * failure: the node starts as it would have.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Logger } from '../shared/logger.ts';
import type { NodeCli } from './rabbit-membership.ts';

const execFileP = promisify(execFile);
/** Per peer; the peers are asked at once, so a blank node's start waits at most this long for it. */
const FORGET_TIMEOUT_MS = 30_000;

/** True when the node's own database folder holds nothing: it has never run here, or its disk was lost. */
export async function isBlankNode(nodeDatabaseDir: string): Promise<boolean> {
  const entries = await readdir(nodeDatabaseDir).catch(() => []);
  return entries.length === 0;
}

/** Asks each running peer to forget `self`; resolves once one did, or every one refused or could not be reached. */
export async function forgetBlankNode(options: { cli: NodeCli; self: string; peers: readonly string[]; logger: Logger }): Promise<boolean> {
  const { cli, self, peers, logger } = options;
  const attempts = peers.map(async (peer) => {
    const [tool, ...args] = cli('rabbitmqctl', peer) as [string, ...string[]];
    await execFileP(tool, [...args, 'forget_cluster_node', self], { timeout: FORGET_TIMEOUT_MS });
    return peer;
  });
  try {
    const peer = await Promise.any(attempts);
    logger.warn({ node: self, peer }, 'this host\u2019s RabbitMQ node starts blank: the cluster forgot its former self first, so it joins as a new member');
    return true;
  } catch {
    // Every peer said no (it never knew the node: a first start) or could not be reached.
    return false;
  }
}
