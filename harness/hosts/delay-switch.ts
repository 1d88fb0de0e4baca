/**
 * The same one-way delay on every link between the bed's hosts, at the packet level: the delay
 * switch (delay-switch.py, a userspace switch that holds each frame) runs in the bridge's
 * namespace on the hosts' bridge-side veth ports, and the ports leave br0 while it holds them.
 * The kernel has no netem, and the delay proxy (delayed-path.ts) carries one port a client
 * chooses; this carries everything, Erlang distribution, ZooKeeper's quorum links and stream
 * replication included. The hosts' addresses, routes and nftables faults are not touched, so a
 * partition or a loss still works while the delay holds.
 *
 * On: the switch first, then the ports out of br0. Off: the ports back into br0, then the switch
 * stopped; it sends what it still holds when due before it exits, so nothing in flight is lost
 * (a frame seen by both in the moment between may arrive twice, which TCP and ARP ignore). The
 * switch is a process of the bridge's namespace, so the bed's teardown kills it with the rest,
 * and it stops by itself when its standard input closes: it does not outlive its owner.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadRequestError, RideShareError } from '../../src/shared/errors.ts';
import { isAlive, terminate, waitFor } from '../../src/shared/processes.ts';
import type { BedPlan } from './bed-plan.ts';
import { run } from './commands.ts';
import { ensureDebianPackages } from './debian-packages.ts';
import { BRIDGE_DEVICE } from './network.ts';

const SWITCH_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'delay-switch.py');
/** Debian's own (package python3), not whichever python3 comes first on the PATH. */
const PYTHON = '/usr/bin/python3';
const PACKAGES = ['python3'] as const;
const START_TIMEOUT_MS = 10_000;
/**
 * The switch drains at most one delay's worth of frames, but its exit then waits for the kernel to
 * close each packet socket (an RCU grace period apiece): about 2 s for two ports at a load of 20.
 */
const STOP_GRACE_MS = 10_000;
export const MAX_DELAY_MS = 1000;

export interface BedDelay {
  /** Each way, on every link between two hosts: a round trip takes twice this more. */
  delayMs: number;
  pid: number;
  /** From the switch's start to the ports out of br0. */
  injectMs: number;
  /** The ports back into br0, then the switch stopped; resolves with the time it took (0 when already healed). */
  heal(): Promise<number>;
}

/** `onSpawn` records the switch's pid with the bed, before anything depends on it. */
export async function startDelaySwitch(plan: BedPlan, delayMs: number, onSpawn: (pid: number) => void): Promise<BedDelay> {
  if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_DELAY_MS) throw new BadRequestError(`a delay of ${delayMs} ms: give 0 to ${MAX_DELAY_MS} ms`);
  await ensureDebianPackages(PACKAGES);
  const began = performance.now();
  const ports = plan.hosts.map((host) => host.bridgePort);
  const child = spawn('ip', ['netns', 'exec', plan.bridgeNamespace, PYTHON, SWITCH_SCRIPT, '--delay-ms', String(delayMs), ...ports], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.once('spawn', () => onSpawn(child.pid as number));
  const output = collect(child);
  const stop = async () => {
    // The end of its input stops the switch as SIGTERM does; the signal (then SIGKILL) is for one that does not.
    child.stdin?.end();
    await waitFor(() => !running(child), STOP_GRACE_MS, 10);
    await terminate({ signal: (signal) => child.kill(signal), alive: () => running(child), graceMs: 2000 });
  };
  try {
    await ready(child, output);
    await setPorts(plan, ports, 'nomaster');
  } catch (error) {
    await setPorts(plan, ports, `master ${BRIDGE_DEVICE}`).catch(() => undefined);
    await stop();
    throw error;
  }
  const injectMs = performance.now() - began;
  let healed = false;
  return {
    delayMs,
    pid: child.pid as number,
    injectMs,
    heal: async () => {
      if (healed) return 0;
      healed = true;
      const start = performance.now();
      await setPorts(plan, ports, `master ${BRIDGE_DEVICE}`);
      const diedEarly = !running(child);
      await stop();
      // Back in br0 the hosts talk again either way; a switch that died while it held the ports had cut them off meanwhile.
      if (diedEarly) throw new RideShareError('INTERNAL', `the delay switch had exited before the heal: ${output.text().trim() || 'no output'}`);
      return performance.now() - start;
    },
  };
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && child.pid !== undefined && isAlive(child.pid);
}

/** One `ip -batch` in the bridge's namespace: every port out of br0 (`nomaster`) or back in, at once. */
function setPorts(plan: BedPlan, ports: readonly string[], how: 'nomaster' | `master ${string}`): Promise<string> {
  return run(['ip', '-n', plan.bridgeNamespace, '-batch', '-'], { input: `${ports.map((port) => `link set ${port} ${how}`).join('\n')}\n` });
}

function collect(child: ChildProcess): { text(): string } {
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  // The switch reads its stdin only for its end; a write to a switch already gone must not throw.
  child.stdin?.on('error', () => undefined);
  return { text: () => text };
}

function ready(child: ChildProcess, output: { text(): string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`the delay switch was not ready within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const onData = () => {
      if (!/^ready$/m.test(output.text())) return;
      done();
      resolve();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => fail(`the delay switch exited (${signal ?? `code ${code}`}) before it was ready`);
    const onError = (error: Error) => fail(error.message);
    const done = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const fail = (why: string) => {
      done();
      reject(new RideShareError('INTERNAL', `${why}${output.text() ? `: ${output.text().trim()}` : ''}`));
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}
