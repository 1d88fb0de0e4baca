/**
 * The state file of a bed (/run/rideshare-hosts/<bed>.json): the plan it was made from, the
 * process that owns it, and every process the bed started in a host. `down` works from it when it
 * is there and by the namespace prefix when it is not, so losing it loses nothing but speed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { identify, isSameProcess, type ProcessIdentity } from '../../src/shared/processes.ts';
import type { BedPlan } from './bed-plan.ts';

export interface BedState {
  version: 1;
  plan: BedPlan;
  createdAt: string;
  /** The process whose exit tears the bed down; absent for a bed `npm run hosts -- up` left running. */
  owner?: ProcessIdentity;
  /** Processes started in a host through the bed (they are also found by namespace). */
  started: { host: string; identity: ProcessIdentity }[];
  /** Folders made for the bed's processes (servers' data), removed with the bed; named `rs-<bed>-*`. */
  folders?: string[];
}

export function newState(plan: BedPlan, owned: boolean): BedState {
  const owner = owned ? identify(process.pid) : undefined;
  return { version: 1, plan, createdAt: new Date().toISOString(), ...(owner ? { owner } : {}), started: [] };
}

export function readState(file: string): BedState | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<BedState>;
    return parsed.version === 1 && parsed.plan ? (parsed as BedState) : undefined;
  } catch {
    return undefined;
  }
}

/** Written whole to a new file and renamed, so a reader never sees half of it. */
export function writeState(state: BedState): void {
  fs.mkdirSync(path.dirname(state.plan.stateFile), { recursive: true, mode: 0o700 });
  const temporary = `${state.plan.stateFile}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(temporary, state.plan.stateFile);
}

export function removeState(file: string): void {
  fs.rmSync(file, { force: true });
}

/** The bed's owner is still the very process that made it. */
export function ownerAlive(state: BedState): boolean {
  return state.owner !== undefined && isSameProcess(state.owner);
}

/** Names of the beds that have a state file. */
export function statedBeds(stateDir: string): string[] {
  try {
    return fs
      .readdirSync(stateDir)
      .filter((file) => file.endsWith('.json'))
      .map((file) => file.slice(0, -'.json'.length));
  } catch {
    return [];
  }
}
