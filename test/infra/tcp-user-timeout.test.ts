/**
 * The RabbitMQ cluster node's TCP user timeout (src/infra/tcp-user-timeout.ts): the advanced.config
 * prepareRabbitClusterNode writes is read by the real Erlang runtime the node runs on, and the
 * sockets opened with its options (the AMQP listener's, the distribution's) carry
 * TCP_USER_TIMEOUT with the value asked for, RabbitMQ's own listener defaults kept.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { prepareRabbitClusterNode } from '../../src/infra/rabbitmq-cluster-node.ts';

const ERL = '/usr/bin/erl';
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Opens a listening socket with each option list of the file and prints what the kernel holds. */
const PROBE = `
{ok, [Config]} = file:consult(os:getenv("ADVANCED")),
{kernel, Kernel} = lists:keyfind(kernel, 1, Config),
{rabbit, Rabbit} = lists:keyfind(rabbit, 1, Config),
Timeout = fun(Options) ->
  {ok, S} = gen_tcp:listen(0, Options),
  {ok, [{raw, 6, 18, <<Ms:32/native>>}]} = inet:getopts(S, [{raw, 6, 18, 4}]),
  {ok, Other} = inet:getopts(S, [nodelay, linger]),
  gen_tcp:close(S),
  {Ms, Other}
end,
io:format("~p.~n", [[
  {ticktime, proplists:get_value(net_ticktime, Kernel)},
  {dist_listen, Timeout(proplists:get_value(inet_dist_listen_options, Kernel))},
  {dist_connect, Timeout(proplists:get_value(inet_dist_connect_options, Kernel))},
  {amqp, Timeout(proplists:get_value(tcp_listen_options, Rabbit))}
]]),
halt().`;

it.skipIf(!existsSync(ERL))('gives the node AMQP and distribution sockets a TCP user timeout, its other settings kept', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rs-user-timeout-'));
  dirs.push(dir);
  await prepareRabbitClusterNode({ dir, host: 'users', hosts: ['users', 'rides', 'db'], cookie: 'abcdefghijklmnop1234', password: 'pw', tcpUserTimeoutMs: 6000 });
  const printed = execFileSync(ERL, ['-noshell', '-eval', PROBE], { env: { PATH: process.env.PATH, HOME: dir, ADVANCED: path.join(dir, 'advanced.config') }, timeout: 30_000 }).toString();
  expect(printed.replace(/\s+/g, '')).toBe(
    '[{ticktime,10},{dist_listen,{6000,[{nodelay,false},{linger,{false,0}}]}},{dist_connect,{6000,[{nodelay,false},{linger,{false,0}}]}},{amqp,{6000,[{nodelay,true},{linger,{true,0}}]}}].',
  );
});

it('refuses a user timeout outside 1-120 s', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rs-user-timeout-'));
  dirs.push(dir);
  await expect(prepareRabbitClusterNode({ dir, host: 'users', hosts: ['users', 'rides', 'db'], cookie: 'abcdefghijklmnop1234', password: 'pw', tcpUserTimeoutMs: 500 })).rejects.toThrow(
    /TCP user timeout/,
  );
});
