/**
 * Makes a RabbitMQ node that rejoined blank (its disk lost, its former self forgotten by the
 * cluster: blank-node-rejoin.ts) a working member of the stream coordinator, the Raft group of
 * every node that RabbitMQ 3.10 consults whenever a channel first publishes to a stream (the sync
 * log) or a stream's replicas change.
 *
 * `rabbitmqctl forget_cluster_node` shrinks the quorum queues but leaves the coordinator's members
 * alone, and its leader only drops a member whose node left the cluster and adds a running node
 * that is not a member, once every 30 s (`stream_tick_interval`). A node forgotten and back under
 * the same name within that time stays a member by name while its server, with the data it held,
 * is gone: the coordinator then runs on two live servers of three, and the next host lost stops
 * it. Seen on the test bed: db's disk lost, then users' (the master's host by then): the
 * coordinator on rides alone stayed in pre_vote, every new master's first publish to the sync log
 * was refused ("Stream coordinator unavailable"), and no master took writes again.
 *
 * So the rejoined node, while the others still make a majority, has the leader remove its former
 * self from the members and then look for new nodes at once (the coordinator's own resize, which
 * starts a server here and adds it), instead of at its next tick.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../shared/logger.ts';
import { type NodeCli, rabbitmqctl } from './rabbit-membership.ts';
import { monotonicNow } from '../shared/monotonic.ts';

const CLI_TIMEOUT_MS = 20_000;
/** How long the host's start waits for this node to be a member; past it, it starts and says so. */
const JOIN_TIMEOUT_MS = 45_000;
const JOIN_LOOK_MS = 1000;

/** What one look at this node's place in the coordinator answered (the Erlang expression below). */
export type CoordinatorStep = 'member' | 'no_coordinator' | 'removed_former_self' | 'asked_to_join' | 'unavailable';

/**
 * The Erlang expression, for `rabbitmqctl eval` on the rejoined node, that takes one step toward
 * its membership and answers which: `member` (its coordinator server runs: done), `no_coordinator`
 * (no running peer has one: no stream was ever used, and a coordinator started later counts this
 * node), `removed_former_self` (the members named this node while no server of it ran),
 * `asked_to_join` (the leader was asked to add the running nodes it lacks), or `{unavailable, _}`.
 * The resize is an aux command the coordinator handles as leader only, so it is sent to the leader
 * `ra:members` named; a follower ignores it.
 */
export function coordinatorJoinStep(): string {
  return [
    'Me = node(),',
    'Self = {rabbit_stream_coordinator, Me},',
    'Peers = [{rabbit_stream_coordinator, N} || N <- rabbit_mnesia:cluster_nodes(running), N =/= Me],',
    'NoServer = fun({error, noproc}) -> true; (_) -> false end,',
    'case whereis(rabbit_stream_coordinator) of',
    '  Pid when is_pid(Pid) -> member;',
    '  undefined when Peers =:= [] -> no_coordinator;',
    '  undefined ->',
    '    case ra:members(Peers) of',
    '      {ok, Members, Leader} ->',
    '        case lists:member(Self, Members) of',
    '          true -> case ra:remove_member(Leader, Self) of {ok, _, _} -> removed_former_self; Other -> {unavailable, Other} end;',
    '          false -> ok = ra:cast_aux_command(Leader, maybe_resize_coordinator_cluster), asked_to_join',
    '        end;',
    '      {error, {no_more_servers_to_try, Errors}} -> case lists:all(NoServer, Errors) of true -> no_coordinator; false -> {unavailable, Errors} end;',
    '      Other -> {unavailable, Other}',
    '    end',
    'end.',
  ].join(' ');
}

/** The step an answer of coordinatorJoinStep names (`rabbitmqctl eval` prints the term). */
export function stepOf(answer: string): CoordinatorStep {
  const term = answer.trim();
  for (const step of ['member', 'no_coordinator', 'removed_former_self', 'asked_to_join'] as const) if (term === step) return step;
  return 'unavailable';
}

/**
 * Takes steps until this node's coordinator server runs as a member (or no coordinator exists),
 * for at most JOIN_TIMEOUT_MS; never fatal: the host starts as before and logs a warning.
 */
export async function joinStreamCoordinator(cli: NodeCli, node: string, logger: Logger): Promise<void> {
  const deadline = monotonicNow() + JOIN_TIMEOUT_MS;
  const steps: string[] = [];
  let last = '';
  for (;;) {
    try {
      last = (await rabbitmqctl(cli, node, ['eval', coordinatorJoinStep()], CLI_TIMEOUT_MS)).trim();
    } catch (error) {
      last = String(error);
    }
    const step = stepOf(last);
    if (step === 'member' || step === 'no_coordinator') {
      if (steps.length > 0 || step === 'member') logger.info({ node, steps }, 'this host\u2019s RabbitMQ node is a member of the stream coordinator');
      return;
    }
    if (step !== steps.at(-1)) steps.push(step);
    if (step === 'removed_former_self') logger.warn({ node }, 'the stream coordinator still counted this host\u2019s RabbitMQ node by its former self: removed, so that it joins as a new member');
    if (monotonicNow() + JOIN_LOOK_MS > deadline) {
      logger.warn({ node, steps, last }, 'this host\u2019s RabbitMQ node is not yet a member of the stream coordinator: starting as it is');
      return;
    }
    // The coordinator's leader answers the resize asynchronously: look again shortly.
    await sleep(JOIN_LOOK_MS);
  }
}
