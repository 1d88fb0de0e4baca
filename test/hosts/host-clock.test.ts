/**
 * A host's faked clock (harness/hosts/host-clock.ts) as the bed uses it: a node process started
 * with the clock's settings, passed on through npm start's allow-listed child environment, reads
 * a wall clock that jumps when the clock is stepped, while its monotonic clock goes on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LineChild, spawnLineChild } from '../../harness/clock/line-child.ts';
import { HostClock } from '../../harness/hosts/host-clock.ts';
import { childEnvironment } from '../../src/shared/child-environment.ts';

/** Answers each line it reads with its Date.now() and performance.now(). */
const ANSWERER = `require('node:readline').createInterface({ input: process.stdin }).on('line', () => console.log(JSON.stringify([Date.now(), performance.now()])));`;
/** The offset is whole seconds; the readings are taken within a few ms of each other. */
const TOLERANCE_MS = 1000;

describe('a host clock faked with libfaketime', () => {
  let folder: string;
  let clock: HostClock;
  let child: LineChild;
  let ask: () => Promise<[number, number]>;

  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), 'host-clock-'));
    clock = await HostClock.make(path.join(folder, 'faketime'));
    // As npm start passes them on: its own environment through the children's allow-list.
    const env = childEnvironment([], {}, { ...process.env, ...clock.environment });
    child = spawnLineChild(['-e', ANSWERER], env);
    ask = () => child.ask<[number, number]>();
  }, 300_000);

  afterAll(() => {
    child?.kill();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('steps the wall clock ahead, behind and back, and leaves the monotonic clock alone', async () => {
    const [trueWall, trueMono] = await ask();
    expect(Math.abs(trueWall - Date.now())).toBeLessThan(TOLERANCE_MS);

    clock.step(30);
    const [aheadWall, aheadMono] = await ask();
    expect(Math.abs(aheadWall - Date.now() - 30_000)).toBeLessThan(TOLERANCE_MS);

    clock.step(-30);
    const [behindWall, behindMono] = await ask();
    expect(Math.abs(behindWall - Date.now() + 30_000)).toBeLessThan(TOLERANCE_MS);

    clock.step(0);
    const [backWall] = await ask();
    expect(Math.abs(backWall - Date.now())).toBeLessThan(TOLERANCE_MS);

    expect(aheadMono).toBeGreaterThanOrEqual(trueMono);
    expect(behindMono).toBeGreaterThanOrEqual(aheadMono);
    expect(behindMono - trueMono).toBeLessThan(TOLERANCE_MS);
  });
});
