/**
 * Not a server fault but a client's behaviour: for the whole round every write carries one and
 * the same X-Request-Id (round.ts tells the workload), and the writers that never retry send no
 * requestId of their own. The injector holds the round for seconds of such writes, across a
 * failover half of the time, so retried writes and keyless ones meet a new master too.
 */
import { call } from '../chaos/client.ts';
import { sleep } from '../../src/shared/timeout.ts';
import type { Injection, InjectionContext } from './kinds.ts';

export async function sameRequestId({ env, random, applied }: InjectionContext): Promise<Injection> {
  const failover = random.next() < 0.5;
  const heldMs = random.int(2000, 4000);
  let crash = '';
  if (failover) {
    const supervisor = await env.supervisingOrAny();
    const outcome = await call('POST', `${supervisor.url}/api/v1/crash/master`, undefined, 30_000);
    crash = `, with crash/master ${outcome.status} at its start`;
  }
  applied();
  await sleep(heldMs);
  return { detail: `${heldMs} ms of writes all under one X-Request-Id${crash}` };
}
