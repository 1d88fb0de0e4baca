import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { identify, isAlive, isSameProcess, portAccepts, processGroupOf, sendSignal, signalIdentified, terminate, waitFor, waitForPort } from '../../src/shared/processes.ts';

const started: number[] = [];

afterEach(() => {
  for (const pid of started.splice(0)) sendSignal(pid, 'SIGKILL');
});

/** A node process that sleeps; `ignoreTerm` makes it shrug off SIGTERM. */
function sleeper(options: { ignoreTerm?: boolean; detached?: boolean } = {}): number {
  return startSleeper(options).pid;
}

interface Sleeper {
  pid: number;
  /** Resolves once its signal handler (if any) is installed: it says so on stdout. */
  ready: Promise<void>;
  /** The signal that ended it. */
  endedBy: Promise<NodeJS.Signals | null>;
}

function startSleeper(options: { ignoreTerm?: boolean; detached?: boolean } = {}): Sleeper {
  const script = `${options.ignoreTerm ? "process.on('SIGTERM', () => {});" : ''} process.stdout.write('ready\\n'); setInterval(() => {}, 60_000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'], detached: options.detached ?? false });
  started.push(child.pid as number);
  const ready = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const endedBy = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  return { pid: child.pid as number, ready, endedBy };
}

describe('processes', () => {
  it('identifies a live process by pid and start time; a different start time is another process', () => {
    const pid = sleeper();
    const identity = identify(pid);
    expect(identity).toMatchObject({ pid });
    expect(isSameProcess(identity!)).toBe(true);
    expect(isSameProcess({ pid, startTime: '1' })).toBe(false);
  });

  it('never signals a process whose start time is not the recorded one', async () => {
    const target = startSleeper();
    await target.ready;
    const real = identify(target.pid)!;
    expect(signalIdentified({ ...real, startTime: `${real.startTime}0` }, 'SIGKILL')).toBe(false);
    // Had that SIGKILL been sent, it would be pending now and would end the process before this
    // SIGTERM could: the signal that ends it tells which one it got, with no waiting on a clock.
    expect(signalIdentified(real, 'SIGTERM')).toBe(true);
    expect(await target.endedBy).toBe('SIGTERM');
  });

  it('takes a zombie for dead', async () => {
    // A child that exits while we do not reap it: `sh` leaves its child unreaped while it sleeps.
    const parent = spawn('sh', ['-c', 'sleep 0.1 & exec sleep 30'], { stdio: 'ignore' });
    started.push(parent.pid as number);
    const childrenOf = (pid: number): number[] => fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    // Its one child, once that child has exited (a zombie: listed, no longer running).
    expect(await waitFor(() => childrenOf(parent.pid as number).length === 1 && fs.readFileSync(`/proc/${childrenOf(parent.pid as number)[0]}/stat`, 'utf8').includes(') Z '), 5000)).toBe(true);
    const children = childrenOf(parent.pid as number);
    expect(children).toHaveLength(1);
    expect(isAlive(children[0]!)).toBe(false);
    expect(identify(children[0]!)).toBeUndefined();
  });

  it('terminate escalates to SIGKILL when SIGTERM is ignored', async () => {
    const stubborn = startSleeper({ ignoreTerm: true, detached: true });
    await stubborn.ready;
    const pid = stubborn.pid;
    expect(processGroupOf(pid)).toBe(pid);
    let escalated = false;
    const gone = await terminate({ signal: (signal) => sendSignal(-pid, signal), alive: () => isAlive(pid), graceMs: 300, onEscalate: () => (escalated = true) });
    expect(gone).toBe(true);
    expect(escalated).toBe(true);
  });

  it('waitForPort resolves once something listens, and gives up when told to', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await expect(waitForPort(port, { timeoutMs: 1000 })).resolves.toBeUndefined();
    await new Promise((resolve) => server.close(resolve));
    expect(await portAccepts(port)).toBe(false);
    await expect(waitForPort(port, { timeoutMs: 5000, abandon: () => 'it exited' })).rejects.toThrow('it exited');
    await expect(waitForPort(port, { timeoutMs: 200 })).rejects.toThrow(/within 200 ms/);
  });
});
