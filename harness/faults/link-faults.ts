/**
 * Faults of one worker's link to the broker, through the proxy every process connects to: the
 * worker's connections are found by its pid (proc.ts) and delayed, reset or black-holed.
 */
import { sleep } from '../../src/shared/timeout.ts';
import type { Injection, InjectionContext } from './kinds.ts';
import { connectionPorts } from './proc.ts';
import type { Direction } from './tcp-proxy.ts';

export async function linkFault({ env, random, applied }: InjectionContext, kind: 'link-slow' | 'link-cut' | 'link-blackhole'): Promise<Injection> {
  const proxy = env.proxy;
  if (!proxy) throw new Error(`${kind} needs the broker proxy (brokerProxy: true)`);
  const workers = await env.inspector.workers();
  const master = workers.find((worker) => worker.role === 'master');
  const slaves = workers.filter((worker) => worker.role === 'slave');
  const target = master && (slaves.length === 0 || random.next() < 0.5) ? master : slaves.length > 0 ? random.pick(slaves) : undefined;
  const ports = target ? connectionPorts(target.pid, proxy.port) : [];
  if (!target || ports.length === 0) {
    applied();
    return { detail: `no link of ${target ? `${target.role} ${target.pid}` : 'any worker'} found in the proxy` };
  }
  const who = `${target.role} ${target.pid} (${ports.length} connection${ports.length > 1 ? 's' : ''})`;
  if (kind === 'link-cut') {
    const cut = proxy.cut(ports);
    applied();
    return { detail: `cut the broker link of ${who}: ${cut} reset` };
  }
  const both: Direction[] = ['to-server', 'to-client'];
  if (kind === 'link-slow') {
    const directions = random.pick<Direction[]>([['to-server'], ['to-client'], both]);
    const delayMs = random.int(100, 500);
    const heldMs = random.int(3000, 5000);
    proxy.set(ports, directions, { mode: 'delay', delayMs });
    applied();
    await sleep(heldMs);
    proxy.heal(ports);
    return { detail: `delayed ${directions.join('+')} of ${who} by ${delayMs} ms for ${heldMs} ms` };
  }
  // Silent on both sides, for longer than two AMQP heartbeats (5 s each): only heartbeats can tell.
  const heldMs = random.int(11_000, 13_000);
  proxy.set(ports, both, { mode: 'pause' });
  applied();
  await sleep(heldMs);
  const left = proxy.heal(ports);
  return { detail: `black-holed both directions of ${who} for ${heldMs} ms; ${left} of its links still open afterwards` };
}
