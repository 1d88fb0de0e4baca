/**
 * Faults of the orchestrators' own links, through the proxies every process connects to: their
 * broker connections reset or slowed; the supervising orchestrator cut off from ZooKeeper (but
 * not from RabbitMQ) past its session, or from RabbitMQ (but not from ZooKeeper) past the RPC
 * deadline. A cut holds the process's reconnections too, until it ends.
 */
import { sleep } from '../../src/shared/timeout.ts';
import type { Injection, InjectionContext } from './kinds.ts';
import type { OrchestratorProcess } from './orchestrator-process.ts';
import { connectionPorts } from './proc.ts';
import type { Direction, TcpProxy } from './tcp-proxy.ts';

const BOTH: Direction[] = ['to-server', 'to-client'];

function needProxy(proxy: TcpProxy | undefined, kind: string, what: string): TcpProxy {
  if (!proxy) throw new Error(`${kind} needs the ${what} proxy`);
  return proxy;
}

export async function orchestratorLinkFault({ env, random, applied }: InjectionContext, kind: 'orchestrator-link-cut' | 'orchestrator-link-slow'): Promise<Injection> {
  const proxy = needProxy(env.proxy, kind, 'broker');
  const running = env.orchestrators.filter((orchestrator) => orchestrator.pid !== undefined);
  const target = running.length > 0 ? random.pick(running) : undefined;
  const ports = target?.pid !== undefined ? connectionPorts(target.pid, proxy.port) : [];
  if (!target || ports.length === 0) {
    applied();
    return { detail: `no broker link of ${target ? `orchestrator ${target.name}` : 'any orchestrator'} found in the proxy` };
  }
  const supervising = (await env.supervising()) === target ? 'supervising' : 'standing by';
  const who = `orchestrator ${target.name} (pid ${target.pid}, ${supervising}; ${ports.length} connection${ports.length > 1 ? 's' : ''})`;
  if (kind === 'orchestrator-link-cut') {
    const cut = proxy.cut(ports);
    applied();
    return { detail: `cut the broker link of ${who}: ${cut} reset` };
  }
  const directions = random.pick<Direction[]>([['to-server'], ['to-client'], BOTH]);
  const delayMs = random.int(100, 500);
  const heldMs = random.int(3000, 5000);
  proxy.set(ports, directions, { mode: 'delay', delayMs });
  applied();
  await sleep(heldMs);
  proxy.heal(ports);
  return { detail: `delayed ${directions.join('+')} of ${who} by ${delayMs} ms for ${heldMs} ms` };
}

/**
 * Silences every link of `target` through `proxy`, present and future, for `heldMs`: the process
 * sees a network path that stopped answering, and so does the server on the other side.
 */
async function isolate(proxy: TcpProxy, target: OrchestratorProcess, heldMs: number, applied: () => void): Promise<{ links: number; reconnections: number }> {
  const pid = target.pid as number;
  const owned = (port: number) => connectionPorts(pid, proxy.port).includes(port);
  proxy.pauseNewLinks(owned);
  const existing = connectionPorts(pid, proxy.port);
  proxy.set(existing, BOTH, { mode: 'pause' });
  applied();
  await sleep(heldMs);
  const now = connectionPorts(pid, proxy.port);
  proxy.pauseNewLinks(undefined);
  proxy.heal([...existing, ...now]);
  return { links: existing.length, reconnections: now.filter((port) => !existing.includes(port)).length };
}

export async function orchestratorPartition({ env, random, applied }: InjectionContext, kind: 'orchestrator-zk-cut' | 'orchestrator-amqp-only-cut'): Promise<Injection> {
  const zkCut = kind === 'orchestrator-zk-cut';
  const proxy = zkCut ? needProxy(env.zkProxy, kind, 'ZooKeeper') : needProxy(env.proxy, kind, 'broker');
  const target = await env.supervising();
  if (!target || target.pid === undefined) {
    applied();
    return { detail: 'no supervising orchestrator of the test to cut off' };
  }
  const session = env.options.sessionTimeoutMs;
  // From ZooKeeper: past its session, so the lease goes. From RabbitMQ: past the RPC deadline, short of two heartbeats.
  const heldMs = zkCut ? random.int(session * 2, session * 4) : random.int(env.options.rpcTimeoutMs + 500, 8000);
  const pid = target.pid;
  const { links, reconnections } = await isolate(proxy, target, heldMs, applied);
  const holder = await env.supervising();
  const lease = holder ? `orchestrator ${holder.name} (pid ${holder.pid}) holds the lease` : 'no orchestrator of the test holds the lease';
  return {
    detail:
      `cut supervising orchestrator ${target.name} (pid ${pid}) off ${zkCut ? 'ZooKeeper (RabbitMQ untouched)' : 'RabbitMQ (ZooKeeper untouched)'} ` +
      `for ${heldMs} ms (session ${session} ms, RPC deadline ${env.options.rpcTimeoutMs} ms): ${links} link${links === 1 ? '' : 's'} silenced, ${reconnections} reconnection${reconnections === 1 ? '' : 's'} held; at its end ${lease}`,
  };
}
