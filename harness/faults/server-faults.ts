/**
 * Faults of the servers the cluster depends on: RabbitMQ SIGKILLed and restarted on the same port
 * and data; ZooKeeper frozen (SIGSTOP) for less or more than the session timeout, or restarted.
 */
import { sleep } from '../../src/shared/timeout.ts';
import type { Injection, InjectionContext } from './kinds.ts';

export async function rabbitMqKill({ env, random, applied }: InjectionContext): Promise<Injection> {
  await env.rabbit.crash();
  applied();
  const downMs = random.int(0, 1500);
  await sleep(downMs);
  try {
    const bootMs = await env.rabbit.start();
    return { detail: `SIGKILL RabbitMQ, down ${downMs} ms, restarted on the same port and data in ${bootMs} ms` };
  } catch (error) {
    return { detail: `SIGKILL RabbitMQ, down ${downMs} ms, restart FAILED: ${String(error)}` };
  }
}

export async function zooKeeperStop({ env, random, applied }: InjectionContext, longer: boolean): Promise<Injection> {
  const session = env.options.sessionTimeoutMs;
  const heldMs = longer ? random.int(session * 2, session * 3) : random.int(Math.round(session * 0.3), Math.round(session * 0.6));
  const stopped = env.zk.pause();
  applied();
  await sleep(heldMs);
  return { detail: `SIGSTOP ZooKeeper ${stopped}, held ${heldMs} ms (session ${session} ms), SIGCONT ${env.zk.resume()}` };
}

export async function zooKeeperRestart({ env, random, applied }: InjectionContext): Promise<Injection> {
  const hard = random.next() < 0.5;
  if (hard) await env.zk.crash();
  else await env.zk.stop();
  applied();
  const downMs = random.int(0, 1000);
  await sleep(downMs);
  try {
    const bootMs = await env.zk.start();
    return { detail: `${hard ? 'SIGKILL' : 'SIGTERM'} ZooKeeper, down ${downMs} ms, restarted on the same port and data in ${bootMs} ms` };
  } catch (error) {
    return { detail: `${hard ? 'SIGKILL' : 'SIGTERM'} ZooKeeper, restart FAILED: ${String(error)}` };
  }
}
