/**
 * Puts this host's RabbitMQ node among the replicas of every stream of the vhost (the cluster's
 * sync log). A stream's replicas are the nodes running when it is declared, and RabbitMQ 3.10
 * adds no node that joins later, as for quorum queues: a node that rejoined with a wiped disk, or
 * that was away when a new cluster's log was declared, would otherwise hold no copy, and the log
 * would be lost with two nodes instead of surviving one.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../shared/logger.ts';
import { type NodeCli, rabbitmqctl } from './rabbit-membership.ts';

const execFileP = promisify(execFile);
const CLI_TIMEOUT_MS = 30_000;

interface ListedQueue {
  name: string;
  type: string;
  members?: string[];
}

/** The vhost's streams that have no replica on `node`. */
export async function streamsWithout(cli: NodeCli, node: string, vhost: string): Promise<string[]> {
  const listed = JSON.parse(await rabbitmqctl(cli, node, ['list_queues', '-p', vhost, 'name', 'type', 'members', '--formatter', 'json'], CLI_TIMEOUT_MS)) as ListedQueue[];
  return listed.filter((queue) => queue.type === 'stream' && !(queue.members ?? []).includes(node)).map((queue) => queue.name);
}

/** Adds `node` as a replica of each stream that lacks it; a failure is logged, never fatal (the host starts as before). */
export async function joinStreams(cli: NodeCli, node: string, vhost: string, logger: Logger): Promise<void> {
  let missing: string[];
  try {
    missing = await streamsWithout(cli, node, vhost);
  } catch (error) {
    logger.warn({ err: error }, 'could not list the streams this host\u2019s RabbitMQ node should hold');
    return;
  }
  const [streams, ...prefix] = cli('rabbitmq-streams', node) as [string, ...string[]];
  for (const stream of missing) {
    await execFileP(streams, [...prefix, 'add_replica', '-p', vhost, stream, node], { timeout: CLI_TIMEOUT_MS }).then(
      () => logger.info({ stream, node }, 'this host\u2019s RabbitMQ node now holds a replica of the stream'),
      (error: unknown) => logger.warn({ err: error, stream }, 'could not add this host\u2019s RabbitMQ node to a stream'),
    );
  }
}
