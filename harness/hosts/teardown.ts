/**
 * Removes a bed however it was left: its owner stopped cleanly, was SIGKILLed, or its state file
 * is gone. Every process in the bed's namespaces is SIGKILLed (found by namespace, and by the
 * pids the state file recorded), then the namespaces go (which takes their veth pairs, the bridge
 * and the nftables tables with them), then their /etc/netns folders and the state file. All of it
 * synchronous, so that an 'exit' handler can run it, and idempotent: a second run finds nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isSameProcess, sendSignal } from '../../src/shared/processes.ts';
import { bedPrefix, checkBedName, DEFAULT_STATE_DIR, stateFileOf } from './bed-plan.ts';
import { readState, removeState } from './bed-state.ts';
import { attemptSync } from './commands.ts';
import { listNamespaces, pidsByNamespace } from './namespace-pids.ts';
import { NETNS_ETC } from './network.ts';

export interface TeardownReport {
  bed: string;
  namespaces: string[];
  killed: number[];
  etcFolders: string[];
  /** Anything that was still there after the teardown: empty when it worked. */
  left: string[];
}

const KILL_WAIT_MS = 5000;

export function tearDown(bed: string, stateDir = DEFAULT_STATE_DIR): TeardownReport {
  checkBedName(bed);
  const prefix = bedPrefix(bed);
  const state = readState(stateFileOf(bed, stateDir));
  const planned = state ? [state.plan.bridgeNamespace, ...state.plan.hosts.map((host) => host.namespace)] : [];
  const namespaces = [...new Set([...planned, ...listNamespaces().filter((name) => name.startsWith(prefix))])];
  const recorded = state?.started.map((entry) => entry.identity) ?? [];

  const killed = new Set<number>();
  const deadline = Date.now() + KILL_WAIT_MS;
  // A process may fork while it is being killed: go round until the namespaces are empty.
  for (;;) {
    const pids = [...pidsByNamespace(namespaces).values()].flat();
    const strays = recorded.filter((identity) => isSameProcess(identity)).map((identity) => identity.pid);
    const targets = [...new Set([...pids, ...strays])];
    if (targets.length === 0 || Date.now() > deadline) break;
    for (const pid of targets) if (sendSignal(pid, 'SIGKILL')) killed.add(pid);
    sleepSync(20);
  }

  // Hosts before the bridge: each host's veth pair goes with its namespace.
  const ordered = [...namespaces.filter((name) => !name.endsWith('-bridge')), ...namespaces.filter((name) => name.endsWith('-bridge'))];
  for (const namespace of ordered) attemptSync(['ip', 'netns', 'del', namespace]);

  const etcFolders = etcFoldersOf(prefix);
  for (const folder of etcFolders) fs.rmSync(folder, { recursive: true, force: true });
  removeEtcNetnsIfEmpty();
  // Only folders the bed named after itself (a damaged state file cannot point the removal
  // elsewhere); without a state file, found by that name in the temporary folder.
  for (const folder of new Set([...(state?.folders ?? []), ...tmpFoldersOf(prefix)])) {
    if (path.basename(folder).startsWith(prefix)) fs.rmSync(folder, { recursive: true, force: true });
  }
  removeState(stateFileOf(bed, stateDir));

  const left = [...listNamespaces().filter((name) => name.startsWith(prefix)), ...etcFoldersOf(prefix)];
  return { bed, namespaces: ordered, killed: [...killed], etcFolders, left };
}

/** Beds that exist on the machine: a bridge namespace `rs-<bed>-bridge` is the mark of one. */
export function bedsOnMachine(): string[] {
  return listNamespaces()
    .map((name) => /^rs-([a-z0-9]{1,16})-bridge$/.exec(name)?.[1])
    .filter((bed): bed is string => bed !== undefined);
}

function tmpFoldersOf(prefix: string): string[] {
  try {
    return fs
      .readdirSync(os.tmpdir())
      .filter((name) => name.startsWith(prefix))
      .map((name) => path.join(os.tmpdir(), name));
  } catch {
    return [];
  }
}

function etcFoldersOf(prefix: string): string[] {
  try {
    return fs
      .readdirSync(NETNS_ETC)
      .filter((name) => name.startsWith(prefix))
      .map((name) => path.join(NETNS_ETC, name));
  } catch {
    return [];
  }
}

/** /etc/netns is made by the first bed; it goes when the last one does, and never holds anything else's. */
function removeEtcNetnsIfEmpty(): void {
  try {
    fs.rmdirSync(NETNS_ETC);
  } catch {
    // not empty (another bed, or someone else's namespace), or already gone
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
