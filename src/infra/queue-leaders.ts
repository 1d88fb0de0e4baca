/**
 * Keeps the leaders of the cluster's quorum queues on the database host's RabbitMQ node.
 *
 * A quorum queue stalls while the node of its leader is lost, until the other nodes notice
 * (net_ticktime) and elect another: 8-11 s measured on the test bed, every route of the product
 * with it. Losing the database host stops the database anyway (its supervisor, its workers), so
 * leaders there make losing the users or the rides host cost the queues nothing. A leader lands
 * elsewhere when a queue is declared from another host first, or when an election moved it while
 * the database host's node was away; it is moved back with RabbitMQ's own leadership transfer
 * (`rabbit_quorum_queue:transfer_leadership`, what maintenance mode's drain uses to move leaders
 * off a node: RabbitMQ 3.10 has no command for one queue), once this node runs beside a majority.
 */
import type { Logger } from '../shared/logger.ts';
import { type RepeatingCheck, repeatEvery } from '../shared/repeating-check.ts';
import { type NodeCli, rabbitmqctl } from './rabbit-membership.ts';

const CLI_TIMEOUT_MS = 20_000;
export const LEADER_CHECK_MS = 5000;

export interface QueueLeader {
  name: string;
  leader: string;
}

export interface LeaderKeeping {
  /** The database host's node, where the leaders belong (this host's). */
  node: string;
  vhost: string;
  cli: NodeCli;
  logger: Logger;
  /** Between two checks; LEADER_CHECK_MS by default. */
  intervalMs?: number;
}

/** The vhost's quorum queues and the node each one's leader is on. */
export async function quorumLeaders(keeping: LeaderKeeping, signal?: AbortSignal): Promise<QueueLeader[]> {
  const listed = JSON.parse(await rabbitmqctl(keeping.cli, undefined, ['list_queues', '-p', keeping.vhost, 'name', 'type', 'leader', '--formatter', 'json'], CLI_TIMEOUT_MS, signal)) as {
    name: string;
    type: string;
    leader?: string;
  }[];
  return listed.filter((queue) => queue.type === 'quorum' && typeof queue.leader === 'string').map((queue) => ({ name: queue.name, leader: queue.leader as string }));
}

/** An Erlang binary literal of a queue or vhost name (RabbitMQ allows any UTF-8 there). */
function binary(text: string): string {
  return `<<"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"/utf8>>`;
}

/** The Erlang expression, for `rabbitmqctl eval`, that moves a quorum queue's leader to `node`; it answers {migrated, Node} or {not_migrated, Why}. */
export function leaderTransfer(vhost: string, queue: string, node: string): string {
  return `{ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(${binary(vhost)}, queue, ${binary(queue)})), rabbit_quorum_queue:transfer_leadership(Q, '${node}').`;
}

/** Moves one queue's leader to this node; resolves with RabbitMQ's answer. */
export async function moveLeaderHere(keeping: LeaderKeeping, queue: string, signal?: AbortSignal): Promise<string> {
  return (await rabbitmqctl(keeping.cli, undefined, ['eval', leaderTransfer(keeping.vhost, queue, keeping.node)], CLI_TIMEOUT_MS, signal)).trim();
}

/** Every intervalMs, moves here the leader of each quorum queue of the vhost that is elsewhere. */
export function keepQueueLeaders(keeping: LeaderKeeping): RepeatingCheck {
  return repeatEvery(
    keeping.intervalMs ?? LEADER_CHECK_MS,
    async (signal) => {
      for (const queue of await quorumLeaders(keeping, signal)) {
        if (queue.leader === keeping.node || signal.aborted) continue;
        const answer = await moveLeaderHere(keeping, queue.name, signal);
        keeping.logger.info({ queue: queue.name, from: queue.leader, to: keeping.node, answer }, 'moved a quorum queue\u2019s leader to the database host\u2019s RabbitMQ node');
      }
    },
    (error) => keeping.logger.warn({ err: error }, 'could not check where the quorum queues\u2019 leaders are'),
  );
}
