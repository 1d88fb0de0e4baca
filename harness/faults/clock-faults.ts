/**
 * One orchestrator's wall clock stepped 30 s ahead or behind (its fake clock, harness/faults/
 * clock-offset.ts), held for seconds, then stepped back to the true time, as an operator or NTP
 * would step it. The workers' and the other orchestrator's clocks stay true.
 */
import { sleep } from '../../src/shared/timeout.ts';
import { clockFileOf, setClockOffset } from './clock-offset.ts';
import type { Injection, InjectionContext } from './kinds.ts';

const STEP_MS = 30_000;

export async function clockStep({ env, random, applied }: InjectionContext): Promise<Injection> {
  const running = env.orchestrators.filter((orchestrator) => orchestrator.pid !== undefined);
  const target = running.length > 0 ? random.pick(running) : undefined;
  if (!target) {
    applied();
    return { detail: 'no running orchestrator' };
  }
  const offsetMs = random.next() < 0.5 ? STEP_MS : -STEP_MS;
  const heldMs = random.int(3000, 6000);
  const file = clockFileOf(env.dataDir, target.name);
  const role = (await env.supervising()) === target ? 'supervising' : 'standing by';
  setClockOffset(file, offsetMs, target.pid);
  applied();
  await sleep(heldMs);
  // Whichever process runs under that name now (a restart reads the file too).
  setClockOffset(file, 0, target.pid);
  return { detail: `stepped the clock of orchestrator ${target.name} (${role}) by ${offsetMs > 0 ? '+' : ''}${offsetMs / 1000} s for ${heldMs} ms, then back` };
}
