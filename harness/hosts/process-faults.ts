/**
 * Process faults of a whole host: a freeze (SIGSTOP to every process in its namespace, thawed
 * with SIGCONT) and a crash (its traffic dropped first, as when a machine dies mid-sentence, then
 * SIGKILL to every process in it until none is left, its data folder wiped if asked; restarting
 * lets its traffic through again and calls back whoever starts what ran there).
 */
import fs from 'node:fs';
import path from 'node:path';
import { BadRequestError, RideShareError } from '../../src/shared/errors.ts';
import { sendSignal, waitFor } from '../../src/shared/processes.ts';
import type { BedPlan, HostPlan } from './bed-plan.ts';
import { pidsIn } from './namespace-pids.ts';
import { injectNetworkFault } from './network-faults.ts';

export interface FrozenHost {
  host: string;
  pids: number[];
  injectMs: number;
  /** SIGCONT to every process in the host (also any that came while it was frozen); the time it took. */
  thaw(): number;
}

export interface CrashOptions {
  /** Emptied after the kill (the folder itself stays): a host that comes back with a blank disk. */
  wipeDir?: string;
}

export interface CrashedHost {
  host: string;
  killed: number[];
  /** From the first dropped packet until no process is left (and the folder wiped). */
  injectMs: number;
  /** Lets its traffic through again, then runs `start` (what ran there comes back); the time it took. */
  restart(start?: (host: string) => Promise<void>): Promise<number>;
}

const KILL_WAIT_MS = 5000;

export function freezeHost(host: HostPlan): FrozenHost {
  const began = performance.now();
  const pids = pidsIn(host.namespace);
  for (const pid of pids) sendSignal(pid, 'SIGSTOP');
  const injectMs = performance.now() - began;
  return {
    host: host.name,
    pids,
    injectMs,
    thaw: () => {
      const start = performance.now();
      for (const pid of new Set([...pids, ...pidsIn(host.namespace)])) sendSignal(pid, 'SIGCONT');
      return performance.now() - start;
    },
  };
}

export async function crashHost(plan: BedPlan, host: HostPlan, options: CrashOptions = {}): Promise<CrashedHost> {
  if (options.wipeDir !== undefined && (!path.isAbsolute(options.wipeDir) || path.resolve(options.wipeDir) === '/')) {
    throw new BadRequestError(`wipeDir '${options.wipeDir}': give an absolute folder other than /`);
  }
  const began = performance.now();
  const isolation = await injectNetworkFault(plan, host, { kind: 'isolate' });
  const killed = new Set<number>();
  const gone = await waitFor(
    () => {
      const left = pidsIn(host.namespace);
      for (const pid of left) if (sendSignal(pid, 'SIGKILL')) killed.add(pid);
      return left.length === 0;
    },
    KILL_WAIT_MS,
    10,
  );
  if (!gone) throw new RideShareError('INTERNAL', `host ${host.name}: processes still alive ${KILL_WAIT_MS} ms after SIGKILL: ${pidsIn(host.namespace).join(', ')}`);
  if (options.wipeDir !== undefined) emptyFolder(options.wipeDir);
  const injectMs = performance.now() - began;
  return {
    host: host.name,
    killed: [...killed],
    injectMs,
    restart: async (start) => {
      const restartBegan = performance.now();
      await isolation.heal();
      await start?.(host.name);
      return performance.now() - restartBegan;
    },
  };
}

function emptyFolder(folder: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(folder);
  } catch {
    return;
  }
  for (const entry of entries) fs.rmSync(path.join(folder, entry), { recursive: true, force: true });
}
