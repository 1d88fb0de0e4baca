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
 * failure: the node starts as it would have. A peer that still sees the former self running (a
 * host back within seconds of its crash, before the peers' ticks or TCP timeout counted its node
 * down) refuses ("Mnesia is running"): it is asked again until it counts the node down, so that
 * the blank node never joins a cluster that still counts it. The streams still list the former
 * self and restart its replica on the blank node before its database boot step: the node keeps
 * that replica outside its database folder (stream-data-dir.ts), or RabbitMQ would take it for a
 * node with data and boot it as a cluster of its own.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Logger } from '../shared/logger.ts';
import type { NodeCli } from './rabbit-membership.ts';
import { monotonicNow } from '../shared/monotonic.ts';

const execFileP = promisify(execFile);
/** Per call; the peers are asked at once. */
const FORGET_TIMEOUT_MS = 30_000;
/**
 * How long a peer that still counts the former self running is asked again: a lost node is
 * counted down within net_ticktime (10 s) or the links' TCP user timeout (8 s) of its loss.
 */
const STILL_RUNNING_WAIT_MS = 30_000;
const STILL_RUNNING_LOOK_MS = 1000;
/** Mnesia's refusal to forget a node it still sees running (`{active, "Mnesia is running", Node}`). */
const STILL_RUNNING = /Mnesia is running/;

/** `forget_cluster_node` on `peer`, asked again while the peer still sees `self` running; rejects when it refuses otherwise or cannot be reached. */
async function forgetOn(cli: NodeCli, peer: string, self: string, deadline: number): Promise<string> {
  const [tool, ...args] = cli('rabbitmqctl', peer) as [string, ...string[]];
  for (;;) {
    try {
      await execFileP(tool, [...args, 'forget_cluster_node', self], { timeout: FORGET_TIMEOUT_MS });
      return peer;
    } catch (error) {
      const said = `${String((error as { stdout?: unknown }).stdout ?? '')} ${String((error as { stderr?: unknown }).stderr ?? '')}`;
      if (!STILL_RUNNING.test(said) || monotonicNow() + STILL_RUNNING_LOOK_MS > deadline) throw error;
    }
    await sleep(STILL_RUNNING_LOOK_MS);
  }
}

/** True when the node's own database folder holds nothing: it has never run here, or its disk was lost. */
export async function isBlankNode(nodeDatabaseDir: string): Promise<boolean> {
  const entries = await readdir(nodeDatabaseDir).catch(() => []);
  return entries.length === 0;
}

/** Asks each running peer to forget `self`; resolves once one did, or every one refused or could not be reached. */
export async function forgetBlankNode(options: { cli: NodeCli; self: string; peers: readonly string[]; logger: Logger }): Promise<boolean> {
  const { cli, self, peers, logger } = options;
  const deadline = monotonicNow() + STILL_RUNNING_WAIT_MS;
  const attempts = peers.map((peer) => forgetOn(cli, peer, self, deadline));
  try {
    const peer = await Promise.any(attempts);
    logger.warn({ node: self, peer }, 'this host\u2019s RabbitMQ node starts blank: the cluster forgot its former self first, so it joins as a new member');
    return true;
  } catch {
    // Every peer said no (it never knew the node: a first start) or could not be reached.
    return false;
  }
}
