/**
 * Keeps this host's RabbitMQ node from staying apart from the deployment's cluster after a
 * partition. Seen on the test bed: a node cut off and back (both ways, or on RabbitMQ's ports only)
 * can stay running with only itself while the other two run together without it; pause_minority
 * did not pause it, neither side reconnects, and its host's processes, connected to it first,
 * publish into queues nobody reads. When that lasts (STRAY_CHECKS checks in a row) while a peer
 * reports a majority running without this node, the node's application is restarted, which
 * rejoins it; it holds nothing the majority lacks, since quorum queues only confirm through a
 * majority.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../shared/logger.ts';
import { type RepeatingCheck, repeatEvery } from '../shared/repeating-check.ts';

const execFileP = promisify(execFile);
const STATUS_TIMEOUT_MS = 15_000;
const STEP_TIMEOUT_MS = 60_000;

/** A CLI tool's argv against `node` (this host's by default), as ClusterNodeLaunch.cli gives it. */
export type NodeCli = (tool: string, node?: string) => string[];

export interface NodeView {
  /** The nodes this node sees running, itself included when its application runs. */
  running: string[];
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
    const status = JSON.parse(await rabbitmqctl(cli, node, ['cluster_status', '--formatter', 'json'], STATUS_TIMEOUT_MS, signal)) as { running_nodes?: string[] };
    return { running: status.running_nodes ?? [] };
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

/** Checks in a row that must find this node apart before its application is restarted. */
export const STRAY_CHECKS = 3;
export const STRAY_CHECK_MS = 5000;

/**
 * Watches, every STRAY_CHECK_MS, for this node running apart from a majority that runs without
 * it, and restarts its application when that holds STRAY_CHECKS times in a row.
 */
export function watchForStray(membership: Membership): RepeatingCheck {
  const { self, nodes, cli, logger } = membership;
  const majority = Math.floor(nodes.length / 2) + 1;
  let apartChecks = 0;
  return repeatEvery(
    STRAY_CHECK_MS,
    async (signal) => {
      const own = await viewOf(cli, self, signal);
      // A node that does not answer, or whose application is paused (pause_minority), is left to RabbitMQ.
      if (!own?.running.includes(self) || own.running.length >= majority) {
        apartChecks = 0;
        return;
      }
      const views = await peerViews(membership, signal);
      const majorityWithout = [...views.values()].some((view) => view.running.length >= majority && !view.running.includes(self));
      apartChecks = majorityWithout ? apartChecks + 1 : 0;
      if (apartChecks < STRAY_CHECKS || signal.aborted) return;
      apartChecks = 0;
      logger.warn({ node: self, running: own.running }, 'this host\u2019s RabbitMQ node runs apart from a majority that runs without it: restarting its application to rejoin');
      await rabbitmqctl(cli, self, ['stop_app'], STEP_TIMEOUT_MS, signal);
      await rabbitmqctl(cli, self, ['start_app'], STEP_TIMEOUT_MS, signal);
    },
    (error) => logger.warn({ err: error, node: self }, 'the RabbitMQ membership check failed'),
  );
}
