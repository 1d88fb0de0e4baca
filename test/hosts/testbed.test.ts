/**
 * The test bed of hosts against the machine itself: what each fault does is checked with real
 * TCP between processes in different hosts, and what `down` leaves is checked from outside the
 * bed (ip netns list, ip link, /etc/netns, nft, /proc), as a user would.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, waitFor } from '../../src/shared/processes.ts';
import { procState } from '../../harness/faults/proc.ts';
import { staysTrue } from '../../harness/replicas.ts';
import { tearDown } from '../../harness/hosts/teardown.ts';
import { TestBed } from '../../harness/hosts/TestBed.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROBE = path.join(HERE, 'fixtures/net-probe.mjs');
const OWNER = path.join(HERE, 'fixtures/bed-owner.ts');
const PORT = 7000;
const FAIL_MS = 800;

/** A long-running probe whose output lines the test reads as they come. */
class Probe {
  readonly output: string[] = [];
  constructor(readonly child: ChildProcess) {
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      this.output.push(...parts);
    });
  }

  has(line: string): boolean {
    return this.output.includes(line);
  }

  async until(line: string, timeoutMs = 5000): Promise<boolean> {
    return waitFor(() => this.has(line), timeoutMs, 20);
  }
}

const bed = new TestBed({ name: `t${process.pid}`, subnet: '10.77.0.0/24' });
const servers = new Map<string, Probe>();

function startServer(host: string): Promise<boolean> {
  const probe = new Probe(bed.exec(host, ['node', PROBE, 'serve', String(PORT), '2181', '2888', '5672']));
  servers.set(host, probe);
  return probe.until('ready');
}

/** From `host`, which of `targets` (host:port) accept a connection. */
async function reachable(host: string, targets: string[]): Promise<Record<string, boolean>> {
  const out = await bed.run(host, ['node', PROBE, 'connect', ...targets, String(FAIL_MS)], { hostname: false });
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((line) => [line.split(' ')[0], line.endsWith(' ok')]),
  );
}

async function rtt(host: string, target: string, port: number): Promise<number> {
  const out = await bed.run(host, ['node', PROBE, 'rtt', target, String(port)], { hostname: false });
  const match = /^rtt ([\d.]+)$/m.exec(out);
  if (!match) throw new Error(`no round trip: ${out}`);
  return Number(match[1]);
}

beforeAll(async () => {
  const ms = await bed.up();
  console.log(`bed of ${bed.hosts.length} hosts up in ${ms.toFixed(0)} ms`);
  expect(await Promise.all(bed.hosts.map((host) => startServer(host.name)))).toEqual([true, true, true]);
});

afterAll(async () => {
  await bed.down();
});

describe('a test bed of three hosts', () => {
  it('gives each host its own name and reaches every other host by name over TCP', async () => {
    for (const host of bed.hosts) {
      expect((await bed.run(host.name, ['hostname'])).trim()).toBe(host.name);
      const others = bed.hosts.filter((other) => other.name !== host.name).map((other) => `${other.name}:${PORT}`);
      expect(Object.values(await reachable(host.name, others))).toEqual([true, true]);
    }
    expect(execFileSync('hostname', { encoding: 'utf8' }).trim()).not.toBe('users');
  });

  it('a partition cuts a host off from the others both ways, leaves the others alone, and heals', async () => {
    const fault = await bed.partition('users');
    expect(await reachable('users', [`rides:${PORT}`, `db:${PORT}`])).toEqual({ [`rides:${PORT}`]: false, [`db:${PORT}`]: false });
    expect(await reachable('rides', [`users:${PORT}`, `db:${PORT}`])).toEqual({ [`users:${PORT}`]: false, [`db:${PORT}`]: true });
    const healMs = await fault.heal();
    console.log(`partition: inject ${fault.injectMs.toFixed(1)} ms, heal ${healMs.toFixed(1)} ms`);
    expect(await reachable('users', [`rides:${PORT}`, `db:${PORT}`])).toEqual({ [`rides:${PORT}`]: true, [`db:${PORT}`]: true });
  });

  it('a one-way partition drops one direction only: data still arrives the other way', async () => {
    // A client in rides talks to the server in users over a connection made before the cut.
    const talk = new Probe(bed.exec('rides', ['node', PROBE, 'talk', 'users', String(PORT)], { hostname: false }));
    expect(await talk.until('connected')).toBe(true);
    const fault = await bed.oneWay('users', 'rides');
    talk.child.stdin?.write('rides-to-users\n');
    expect(await servers.get('users')?.until('recv rides-to-users', 3000)).toBe(true);
    // The echo goes users → rides: held back until the heal, then TCP's retransmission delivers it.
    await staysTrue(() => !talk.has('recv rides-to-users'), 1000, 'the echo held back by the one-way cut');
    await fault.heal();
    expect(await talk.until('recv rides-to-users', 8000)).toBe(true);
    talk.child.kill('SIGKILL');
  });

  it('a port cut of ZooKeeper blocks 2181 and 2888 only; RabbitMQ and the rest pass', async () => {
    const fault = await bed.cutPorts('db', 'zookeeper');
    expect(await reachable('users', ['db:2181', 'db:2888', 'db:5672', `db:${PORT}`])).toEqual({ 'db:2181': false, 'db:2888': false, 'db:5672': true, [`db:${PORT}`]: true });
    await fault.heal();
    expect(await reachable('users', ['db:2181', 'db:2888'])).toEqual({ 'db:2181': true, 'db:2888': true });
  });

  it('a loss of 100% drops everything and a loss of 0% nothing', async () => {
    const total = await bed.loss('db', 100);
    expect(await reachable('users', [`db:${PORT}`, `rides:${PORT}`])).toEqual({ [`db:${PORT}`]: false, [`rides:${PORT}`]: true });
    await total.heal();
    const none = await bed.loss('db', 0);
    expect(await reachable('users', [`db:${PORT}`])).toEqual({ [`db:${PORT}`]: true });
    await bed.heal('db');
    await expect(bed.loss('db', 101)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(await none.heal()).toBe(0);
  });

  it('a freeze stops every process of a host and a thaw resumes them', async () => {
    const ticker = new Probe(bed.exec('rides', ['node', PROBE, 'tick'], { hostname: false }));
    expect(await waitFor(() => ticker.output.length >= 2, 5000, 20)).toBe(true);
    const frozen = bed.freeze('rides');
    expect(frozen.pids).toContain(ticker.child.pid);
    // A signal reaches a process running on the other core a moment later.
    expect(await waitFor(() => procState(ticker.child.pid as number) === 'T', 1000, 5)).toBe(true);
    // At most the one tick already in the pipe when it stopped may still arrive; a running ticker prints twelve.
    const during = ticker.output.length;
    await staysTrue(() => ticker.output.length <= during + 1, 600, 'no ticks from a frozen host');
    frozen.thaw();
    expect(await waitFor(() => ticker.output.length >= during + 3, 3000, 20)).toBe(true);
    expect(await reachable('users', [`rides:${PORT}`])).toEqual({ [`rides:${PORT}`]: true });
    ticker.child.kill('SIGKILL');
  });

  it('a delayed path adds at least the asked delay each way; the direct path stays fast', async () => {
    const path = await bed.delayedPath({ from: 'users', to: 'db', port: PORT, delayMs: 150 });
    const slow = await rtt('users', path.host, path.port);
    const direct = await rtt('users', 'db', PORT);
    console.log(`delay proxy: started in ${path.startMs.toFixed(0)} ms, round trip ${slow.toFixed(1)} ms through it, ${direct.toFixed(1)} ms direct`);
    expect(slow).toBeGreaterThanOrEqual(300);
    expect(direct).toBeLessThan(slow - 200);
    await path.stop();
    expect(isAlive(path.pid)).toBe(false);
  });

  it('a crash drops the host traffic, kills every process in it and wipes its folder; a restart brings it back', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-crash-'));
    fs.writeFileSync(path.join(dataDir, 'replica.db'), 'rows');
    const before = bed.pids('db');
    expect(before.length).toBeGreaterThan(0);
    const crashed = await bed.crash('db', { wipeDir: dataDir });
    expect(crashed.killed.sort()).toEqual([...before].sort());
    expect(bed.pids('db')).toEqual([]);
    expect(before.some((pid) => isAlive(pid))).toBe(false);
    expect(fs.readdirSync(dataDir)).toEqual([]);
    expect(await reachable('users', [`db:${PORT}`])).toEqual({ [`db:${PORT}`]: false });
    const restartMs = await crashed.restart(async (host) => {
      expect(await startServer(host)).toBe(true);
    });
    console.log(`crash: inject ${crashed.injectMs.toFixed(1)} ms, restart ${restartMs.toFixed(0)} ms (server start included)`);
    expect(await reachable('users', [`db:${PORT}`])).toEqual({ [`db:${PORT}`]: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});

describe('what a bed leaves behind', () => {
  function leftovers(bedName: string, pids: number[]): string[] {
    const prefix = `rs-${bedName}-`;
    const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    const etc = fs.existsSync('/etc/netns') ? fs.readdirSync('/etc/netns') : [];
    const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
    const ps = execFileSync('ps', ['-e', '-o', 'pid='], { encoding: 'utf8' }).split('\n').map(Number);
    return [
      ...namespaces.split('\n').filter((line) => line.startsWith(prefix)),
      ...links.split('\n').filter((line) => / h-[a-z0-9]+[@:]/.test(line) || line.includes(prefix)),
      ...etc.filter((name) => name.startsWith(prefix)).map((name) => `/etc/netns/${name}`),
      ...tables.split('\n').filter((line) => line.includes(`rideshare_${bedName}`)),
      ...pids.filter((pid) => ps.includes(pid) && isAlive(pid)).map((pid) => `pid ${pid}`),
      ...(fs.existsSync(`/run/rideshare-hosts/${bedName}.json`) ? ['state file'] : []),
    ];
  }

  it('down leaves no namespace, veth, bridge, /etc/netns entry, nft table or process', async () => {
    const pids = bed.hosts.flatMap((host) => bed.pids(host.name));
    expect(pids.length).toBeGreaterThan(0);
    await bed.partition('rides');
    expect(leftovers(bed.plan.name, pids).length).toBeGreaterThan(0);
    const report = await bed.down();
    expect(report.left).toEqual([]);
    expect(leftovers(bed.plan.name, pids)).toEqual([]);
    // Idempotent: a second down finds nothing and says so.
    expect(tearDown(bed.plan.name)).toMatchObject({ killed: [], etcFolders: [], left: [] });
  });

  async function startOwner(name: string): Promise<{ owner: ChildProcess; pids: number[] }> {
    const owner = spawn('node', ['--import', 'tsx', OWNER, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    const probe = new Probe(owner);
    expect(await probe.until('up', 20_000)).toBe(true);
    const pids = ['alpha', 'beta'].flatMap((host) =>
      execFileSync('ip', ['netns', 'pids', `rs-${name}-${host}`], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map(Number),
    );
    expect(pids.length).toBe(2);
    return { owner, pids };
  }

  it('an owner stopped with SIGTERM takes its bed down with it', async () => {
    const name = `o${process.pid}`;
    const { owner, pids } = await startOwner(name);
    owner.kill('SIGTERM');
    await new Promise((resolve) => owner.once('exit', resolve));
    expect(owner.signalCode).toBe('SIGTERM');
    expect(leftovers(name, pids)).toEqual([]);
  });

  it('a bed whose owner was SIGKILLed is removed by down from its state file, or by name without it', async () => {
    for (const stateLost of [false, true]) {
      const name = `k${process.pid}`;
      const { owner, pids } = await startOwner(name);
      owner.kill('SIGKILL');
      await new Promise((resolve) => owner.once('exit', resolve));
      expect(leftovers(name, pids).length).toBeGreaterThan(3);
      if (stateLost) fs.rmSync(`/run/rideshare-hosts/${name}.json`);
      execFileSync('node', ['--import', 'tsx', path.join(HERE, '../../harness/hosts/cli.ts'), 'down', '--bed', name], { encoding: 'utf8' });
      expect(leftovers(name, pids)).toEqual([]);
    }
  });
});
