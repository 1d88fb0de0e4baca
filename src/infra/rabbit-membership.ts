/**
 * Keeps this host's RabbitMQ node from staying apart from the deployment's cluster after a
 * partition. Seen on the test bed: a node cut off and back (both ways, or on RabbitMQ's ports only)
 * can stay running with only itself while the other two run together without it; pause_minority
 * did not pause it, neither side reconnects, and its host's processes, connected to it first,
 * publish into queues nobody reads. When that lasts (STRAY_AFTER_MS) while a peer reports a
 * majority running without this node, the node's application is restarted, which
 * rejoins it; it holds nothing the majority lacks, since quorum queues only confirm through a
 * majority. A node the majority does not even count as a member (forgotten while its disk was
 * lost, it started blank and formed a cluster of its own: seen on the test bed while a stream
 * replica restarted on it sat in its database folder, which it no longer does: stream-data-dir.ts)
 * does not rejoin by a restart: it is reset and joins a node of the majority, as RabbitMQ's clustering guide
 * does for a node that left; it holds nothing of the cluster's queues, which do not count it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../shared/logger.ts';
import { type RepeatingCheck, repeatEvery } from '../shared/repeating-check.ts';
import { monotonicNow } from '../shared/monotonic.ts';

const execFileP = promisify(execFile);
const STATUS_TIMEOUT_MS = 15_000;
const STEP_TIMEOUT_MS = 60_000;

/** A CLI tool's argv against `node` (this host's by default), as ClusterNodeLaunch.cli gives it. */
export type NodeCli = (tool: string, node?: string) => string[];

export interface NodeView {
  /** The nodes this node sees running, itself included when its application runs. */
  running: string[];
  /** The nodes of its cluster, running or not. */
  members: string[];
}

/** `rabbitmqctl <args>` against `node`, run on this host; rejects after `timeoutMs`, or when `signal` aborts (the run killed). */
export async function rabbitmqctl(cli: NodeCli, node: string | undefined, args: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const [command, ...prefix] = cli('rabbitmqctl', node) as [string, ...string[]];
  const { stdout } = await execFileP(command, [...prefix, ...args], { timeout: timeoutMs, ...(signal ? { signal } : {}) });
  return stdout;
}

/** `cluster_status` of `node`, or undefined when it does not answer (down, unreachable, booting). */
export async function viewOf(cli: NodeCli, node: string, signal?: AbortSignal): Promise<NodeView | undefined> {
  try {
    const status = JSON.parse(await rabbitmqctl(cli, node, ['cluster_status', '--formatter', 'json'], STATUS_TIMEOUT_MS, signal)) as {
      running_nodes?: string[];
      disk_nodes?: string[];
      ram_nodes?: string[];
    };
    return { running: status.running_nodes ?? [], members: [...(status.disk_nodes ?? []), ...(status.ram_nodes ?? [])] };
  } catch {
    return undefined;
  }
}

export interface Membership {
  /** This node's name. */
  self: string;
  /** Every node of the deployment, in RIDESHARE_HOSTS order, this one included. */
  nodes: readonly string[];
  cli: NodeCli;
  logger: Logger;
}

async function peerViews(membership: Membership, signal?: AbortSignal): Promise<Map<string, NodeView>> {
  const peers = membership.nodes.filter((node) => node !== membership.self);
  const views = await Promise.all(peers.map(async (node) => [node, await viewOf(membership.cli, node, signal)] as const));
  const known = new Map<string, NodeView>();
  for (const [node, view] of views) if (view) known.set(node, view);
  return known;
}

/** How often the running host looks; and how long the node must stay apart before its application is restarted. */
export const STRAY_CHECK_MS = 5000;
export const STRAY_AFTER_MS = 15_000;

/**
 * Looks for this node running apart from a majority that runs without it, and restarts its
 * application once that has held for STRAY_AFTER_MS. Used while the host starts (a node restarted
 * after its host crashed can come up apart the same way, and the start would wait for it forever)
 * and then every STRAY_CHECK_MS while it runs (watchForStray).
 */
export class StrayNode {
  private readonly majority: number;
  /** When the current run of looks that found the node apart began. */
  private apartSince: number | undefined;

  constructor(private readonly membership: Membership) {
    this.majority = Math.floor(membership.nodes.length / 2) + 1;
  }

  /** One look, given the node's own view (undefined when it did not answer). */
  async look(own: NodeView | undefined, signal?: AbortSignal): Promise<void> {
    const { self, cli, logger } = this.membership;
    // A node that does not answer, or whose application is paused (pause_minority), is left to RabbitMQ.
    if (!own?.running.includes(self) || own.running.length >= this.majority) {
      this.apartSince = undefined;
      return;
    }
    const views = await peerViews(this.membership, signal);
    const majorityWithout = [...views.entries()].find(([, view]) => view.running.length >= this.majority && !view.running.includes(self));
    if (!majorityWithout) {
      this.apartSince = undefined;
      return;
    }
    this.apartSince ??= monotonicNow();
    if (monotonicNow() - this.apartSince < STRAY_AFTER_MS || signal?.aborted) return;
    this.apartSince = undefined;
    const [peer, view] = majorityWithout;
    if (!view.members.includes(self)) {
      logger.warn(
        { node: self, running: own.running, peer, members: view.members },
        'this host\u2019s RabbitMQ node is no member of the cluster its peers run (forgotten, it started a cluster of its own): resetting it to join theirs',
      );
      await rabbitmqctl(cli, self, ['stop_app'], STEP_TIMEOUT_MS, signal);
      await rabbitmqctl(cli, self, ['reset'], STEP_TIMEOUT_MS, signal);
      await rabbitmqctl(cli, self, ['join_cluster', peer], STEP_TIMEOUT_MS, signal);
      await rabbitmqctl(cli, self, ['start_app'], STEP_TIMEOUT_MS, signal);
      return;
    }
    logger.warn({ node: self, running: own.running }, 'this host\u2019s RabbitMQ node runs apart from a majority that runs without it: restarting its application to rejoin');
    await rabbitmqctl(cli, self, ['stop_app'], STEP_TIMEOUT_MS, signal);
    await rabbitmqctl(cli, self, ['start_app'], STEP_TIMEOUT_MS, signal);
  }
}

/** Looks every STRAY_CHECK_MS for this node running apart (StrayNode), for as long as the host runs. */
export function watchForStray(membership: Membership): RepeatingCheck {
  const stray = new StrayNode(membership);
  return repeatEvery(
    STRAY_CHECK_MS,
    async (signal) => stray.look(await viewOf(membership.cli, membership.self, signal), signal),
    (error) => membership.logger.warn({ err: error, node: membership.self }, 'the RabbitMQ membership check failed'),
  );
}
