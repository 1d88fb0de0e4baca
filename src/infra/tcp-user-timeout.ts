/**
 * The RabbitMQ node's links given up when what they sent stays unacknowledged: Linux's
 * TCP_USER_TIMEOUT on the node's AMQP connections and on its links to the other nodes (Erlang
 * distribution), written into its advanced.config.
 *
 * Why: a host cut off one way (its packets in dropped, or its packets out) leaves one side
 * hearing the other. The side that still hears never misses a heartbeat or a tick, so it keeps
 * the link: a node whose packets to users are dropped keeps rabbit@users in the cluster and
 * keeps delivering to users' consumers, which never get the messages (reads a cut slave had
 * taken answered 503 after their 5 s, more following them) until users' own side gives up and
 * the heal comes. A both-ways cut is noticed by both sides (net_ticktime, AMQP heartbeats). With
 * a user timeout the kernel ends a connection whose data no ACK covers for that long, whichever
 * way the cut goes, so a one-way cut costs what a both-ways one does.
 *
 * The value stays above what the heartbeats already tolerate on a lossy link (an AMQP heartbeat
 * of 5 s is missed twice before a connection counts as dead; a tick goes every net_ticktime / 4),
 * so a link that only loses packets is not given up sooner than before for long.
 */

import { BadRequestError } from '../shared/errors.ts';

/** IPPROTO_TCP and TCP_USER_TIMEOUT from Linux's headers: Erlang sets them as a raw option. */
const IPPROTO_TCP = 6;
const TCP_USER_TIMEOUT = 18;
export const DEFAULT_TCP_USER_TIMEOUT_MS = 8000;

/** RabbitMQ 3.10's own tcp_listen_options: advanced.config replaces the whole list, so they are repeated. */
const RABBIT_TCP_LISTEN_DEFAULTS = '{backlog, 128}, {nodelay, true}, {linger, {true, 0}}, {exit_on_close, false}';

export function checkTcpUserTimeout(ms: number): number {
  if (!Number.isInteger(ms) || ms < 1000 || ms > 120_000) throw new BadRequestError(`the TCP user timeout must be a whole number of ms from 1000 to 120000, not ${ms}`);
  return ms;
}

/** The Erlang term of the raw socket option (native byte order, as the kernel reads an int). */
function rawUserTimeout(ms: number): string {
  return `{raw, ${IPPROTO_TCP}, ${TCP_USER_TIMEOUT}, <<${checkTcpUserTimeout(ms)}:32/native>>}`;
}

/** The kernel application's settings: distribution links, listened for and connected (an accepted socket inherits the listener's). */
export function distributionUserTimeout(ms: number): string[] {
  const option = rawUserTimeout(ms);
  return [`{inet_dist_listen_options, [${option}]}`, `{inet_dist_connect_options, [${option}]}`];
}

/** The rabbit application's setting: every AMQP connection accepted on the node's listeners. */
export function amqpListenUserTimeout(ms: number): string {
  return `{tcp_listen_options, [${RABBIT_TCP_LISTEN_DEFAULTS}, ${rawUserTimeout(ms)}]}`;
}
