/**
 * The delay between the bed's hosts (TestBed.delay, harness/hosts/delay-switch.ts) against the
 * machine itself: a TCP round trip between two hosts grows by twice the delay, a bulk transfer
 * still goes through whole, a partition still cuts a host off while the delay holds, and once it
 * is healed the round trip is short again, the switch is gone and every port is back in br0.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, waitFor } from '../../src/shared/processes.ts';
import { TestBed } from '../../harness/hosts/TestBed.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROBE = path.join(HERE, 'fixtures/net-probe.mjs');
const ECHO_PORT = 7000;
const SINK_PORT = 7001;
const FAIL_MS = 800;
const DELAY_MS = 20;
const BULK_MB = 64;

const bed = new TestBed({ name: `d${process.pid}`, subnet: '10.77.0.0/24' });

function startProbe(host: string, argv: string[]): Promise<boolean> {
  const child = bed.exec(host, ['node', PROBE, ...argv], { hostname: false });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return waitFor(() => /^ready$/m.test(output), 5000, 20);
}

/** The median of five round trips of one line, each on a connection of its own (the handshake not counted). */
async function roundTrip(from: string, to: string): Promise<number> {
  const trips: number[] = [];
  for (let trip = 0; trip < 5; trip += 1) {
    const out = await bed.run(from, ['node', PROBE, 'rtt', to, String(ECHO_PORT)], { hostname: false });
    const match = /^rtt ([\d.]+)$/m.exec(out);
    if (!match) throw new Error(`no round trip from ${from} to ${to}: ${out}`);
    trips.push(Number(match[1]));
  }
  return trips.sort((a, b) => a - b)[2] as number;
}

async function reachable(host: string, targets: string[]): Promise<Record<string, boolean>> {
  const out = await bed.run(host, ['node', PROBE, 'connect', ...targets, String(FAIL_MS)], { hostname: false });
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((line) => [line.split(' ')[0], line.endsWith(' ok')]),
  );
}

async function bulk(from: string, to: string): Promise<{ bytes: number; mbPerSecond: number }> {
  const out = await bed.run(from, ['node', PROBE, 'bulk', to, String(SINK_PORT), String(BULK_MB)], { hostname: false, timeoutMs: 60_000 });
  const match = /^bulk (-?\d+) ([\d.]+)$/m.exec(out);
  if (!match) throw new Error(`no bulk transfer from ${from} to ${to}: ${out}`);
  return { bytes: Number(match[1]), mbPerSecond: Number(match[2]) };
}

/** The bridge-side ports that are in br0 now. */
function portsInBridge(): string[] {
  const out = execFileSync('ip', ['-n', bed.plan.bridgeNamespace, '-o', 'link', 'show', 'master', 'br0'], { encoding: 'utf8' });
  return [...out.matchAll(/^\d+: ([^:@]+)/gm)].map((match) => match[1] as string).sort();
}

/** What runs in the bridge's namespace: the switch while a delay holds, nothing otherwise. */
function bridgePids(): number[] {
  return execFileSync('ip', ['netns', 'pids', bed.plan.bridgeNamespace], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
}

beforeAll(async () => {
  await bed.up();
  const started = await Promise.all(bed.hosts.flatMap((host) => [startProbe(host.name, ['serve', String(ECHO_PORT)]), startProbe(host.name, ['sink', String(SINK_PORT)])]));
  expect(started.every(Boolean)).toBe(true);
});

afterAll(async () => {
  await bed.down();
});

describe('a delay between the hosts of a bed', () => {
  it('adds twice the delay to a round trip, carries a bulk transfer whole, leaves partitions working, and leaves nothing when healed', async () => {
    const allPorts = bed.hosts.map((host) => host.bridgePort).sort();
    expect(portsInBridge()).toEqual(allPorts);
    const before = await roundTrip('users', 'db');
    const fast = await bulk('users', 'db');

    const delay = await bed.delay(DELAY_MS);
    expect(portsInBridge()).toEqual([]);
    expect(bridgePids()).toEqual([delay.pid]);
    const during = await roundTrip('users', 'db');
    const slow = await bulk('users', 'db');
    console.log(
      `delay ${DELAY_MS} ms: on in ${delay.injectMs.toFixed(0)} ms; round trip users→db ${before.toFixed(2)} ms before, ${during.toFixed(2)} ms during; ` +
        `bulk ${BULK_MB} MiB ${fast.mbPerSecond} MB/s before, ${slow.mbPerSecond} MB/s during`,
    );
    // Each way once: 2 × the delay, and the switch's own time on a shared, busy machine on top.
    expect(during).toBeGreaterThanOrEqual(2 * DELAY_MS);
    expect(during).toBeLessThan(before + 2 * DELAY_MS + 30);
    expect(slow.bytes).toBe(BULK_MB << 20);
    expect(slow.mbPerSecond).toBeGreaterThan(5);
    await expect(bed.delay(5)).rejects.toMatchObject({ code: 'CONFLICT' });

    // The partition's rules live in users' namespace, by address: the switch changes nothing there.
    const cut = await bed.partition('users');
    expect(await reachable('users', [`rides:${ECHO_PORT}`, `db:${ECHO_PORT}`])).toEqual({ [`rides:${ECHO_PORT}`]: false, [`db:${ECHO_PORT}`]: false });
    expect(await reachable('rides', [`db:${ECHO_PORT}`])).toEqual({ [`db:${ECHO_PORT}`]: true });
    await cut.heal();
    expect(await reachable('users', [`db:${ECHO_PORT}`])).toEqual({ [`db:${ECHO_PORT}`]: true });

    const healMs = await delay.heal();
    const after = await roundTrip('users', 'db');
    console.log(`delay healed in ${healMs.toFixed(0)} ms; round trip ${after.toFixed(2)} ms after`);
    expect(after).toBeLessThan(DELAY_MS);
    expect(portsInBridge()).toEqual(allPorts);
    expect(isAlive(delay.pid)).toBe(false);
    expect(bridgePids()).toEqual([]);
    expect(await delay.heal()).toBe(0);
  });

  it('refuses a delay out of range', async () => {
    await expect(bed.delay(-1)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(bed.delay(5000)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});
