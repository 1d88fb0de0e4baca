/**
 * Keeps the leaders of each database cluster's quorum queues on the RabbitMQ node of its master.
 *
 * A quorum queue stalls while the node of its leader is lost, until the other nodes notice
 * (net_ticktime) and elect another: 8-11 s measured on the test bed, every route of the product
 * with it. Losing the master's host stops writes anyway until a successor takes over, so leaders
 * on its node make that one overlapping outage, and losing any other host costs the queues nothing.
 * The master is writeQ's single active consumer, connected to its own host's node first: that
 * consumer's node is where the cluster's leaders belong, wherever a failover took the master.
 *
 * Every host's `npm start` checks every LEADER_CHECK_MS and moves here, with RabbitMQ's own
 * leadership transfer (`rabbit_quorum_queue:transfer_leadership`, what maintenance mode's drain
 * uses to move leaders off a node: RabbitMQ 3.10 has no command for one queue), the leaders of the
 * clusters whose master consumes through this node; only that host acts, so no two hosts pull
 * one leader both ways. A leader lands elsewhere when a queue is declared from another host first,
 * or when an election moved it while this node was away. The sync log is a stream, whose leader
 * 3.10 cannot move; it stays where the first master declared it.
 */
import type { Logger } from '../shared/logger.ts';
import { type RepeatingCheck, repeatEvery } from '../shared/repeating-check.ts';
import { type NodeCli, rabbitmqctl } from './rabbit-membership.ts';

const CLI_TIMEOUT_MS = 20_000;
export const LEADER_CHECK_MS = 5000;

export interface LeaderKeeping {
  /** This host's node. */
  node: string;
  vhost: string;
  cli: NodeCli;
  logger: Logger;
  /** Between two checks; LEADER_CHECK_MS by default. */
  intervalMs?: number;
}

/** An Erlang binary literal of a queue or vhost name (RabbitMQ allows any UTF-8 there). */
function binary(text: string): string {
  return `<<"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"/utf8>>`;
}

/** The Erlang expression, for `rabbitmqctl eval`, that moves a quorum queue's leader to `node`; it answers {migrated, Node} or {not_migrated, Why}. */
export function leaderTransfer(vhost: string, queue: string, node: string): string {
  return `{ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(${binary(vhost)}, queue, ${binary(queue)})), rabbit_quorum_queue:transfer_leadership(Q, '${node}').`;
}

/**
 * The Erlang expression, evaluated on this host's node, that finds the clusters whose writeQ's
 * active consumer (the master) is connected to this node and moves each of their quorum queues'
 * leaders that is elsewhere here. A cluster's queues share the prefix before the last dot
 * (src/dbaas/protocol/names.ts). It answers a list of {Queue, FromNode, Answer}, empty when
 * nothing moved. One call does it all, since each `rabbitmqctl` run costs a second of CPU.
 */
export function followTheMaster(vhost: string): string {
  return [
    'Me = node(),',
    `Qs = [Q || Q <- rabbit_amqqueue:list(${binary(vhost)}), amqqueue:get_type(Q) =:= rabbit_quorum_queue],`,
    'NameOf = fun(Q) -> element(4, amqqueue:get_name(Q)) end,',
    'Split = fun(Q) -> string:split(NameOf(Q), ".", trailing) end,',
    'LeaderOf = fun(Q) -> case amqqueue:get_pid(Q) of {_, N} -> N; _ -> undefined end end,',
    'ActiveHere = fun(Q) -> lists:any(fun(C) -> element(5, C) =:= true andalso node(element(1, C)) =:= Me end, rabbit_amqqueue:consumers(Q)) end,',
    'Clusters = [P || Q <- Qs, [P, <<"writeQ">>] <- [Split(Q)], ActiveHere(Q)],',
    '[{NameOf(Q), LeaderOf(Q), rabbit_quorum_queue:transfer_leadership(Q, Me)} || Q <- Qs, LeaderOf(Q) =/= Me, [P, _] <- [Split(Q)], lists:member(P, Clusters)].',
  ].join(' ');
}

/** Every intervalMs, moves here the leaders of the clusters whose master consumes through this node. */
export function keepQueueLeaders(keeping: LeaderKeeping): RepeatingCheck {
  return repeatEvery(
    keeping.intervalMs ?? LEADER_CHECK_MS,
    async (signal) => {
      const answer = (await rabbitmqctl(keeping.cli, undefined, ['eval', followTheMaster(keeping.vhost)], CLI_TIMEOUT_MS, signal)).trim();
      if (answer !== '[]') keeping.logger.info({ to: keeping.node, moved: answer }, 'moved quorum queue leaders to the master\u2019s RabbitMQ node');
    },
    (error) => keeping.logger.warn({ err: error }, 'could not check where the quorum queues\u2019 leaders are'),
  );
}
