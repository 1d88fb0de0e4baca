/**
 * Durations, deadlines, retry windows and scaling windows are measured on the monotonic clock
 * (src/shared/monotonic.ts), so that a step of a host's wall clock (±30 s on the test bed's clock
 * faults) neither ends one early nor stretches it. The wall clock, Date.now(), is read only where
 * wall time itself is the point: each such place is listed here with why.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesBelow } from '../../harness/structure/imports.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** File (from the repository's root) → why it reads the wall clock. */
const WALL_TIME_ON_PURPOSE: Record<string, string> = {
  'src/shared/monotonic.ts': 'its comment names Date.now() as what it is not',
  'src/services/rides/clock.ts': 'a ride is stamped with the time of day',
  'src/dbaas/supervisor/Workforce.ts': 'a worker id carries its start time, for people reading it',
  'src/dbaas/supervisor/Failover.ts': "a promotion's steps are logged as wall times, to line up with other processes' logs",
  'src/dbaas/worker/Worker.ts': "a promotion's steps are logged as wall times, to line up with other processes' logs",
  'src/dbaas/coordination/promotion.ts': 'a promotion request says when it was made, for people reading it',
  'src/dbaas/coordination/ClusterClock.ts': "the wall clock is this clock's starting guess and its fallback",
};

function wallClockReaders(): string[] {
  return filesBelow(path.join(ROOT, 'src'), ['.ts'])
    .filter((file) => /Date\.now\(/.test(fs.readFileSync(file, 'utf8')))
    .map((file) => path.relative(ROOT, file));
}

describe('the wall clock', () => {
  it('is read only where wall time is the point; every duration and deadline is on the monotonic clock', () => {
    const unexpected = wallClockReaders().filter((file) => !(file in WALL_TIME_ON_PURPOSE));
    expect(unexpected, 'use monotonicNow() (src/shared/monotonic.ts) for a duration, a deadline or a window').toEqual([]);
  });

  it('lists no file that no longer reads it', () => {
    const readers = new Set(wallClockReaders());
    expect(Object.keys(WALL_TIME_ON_PURPOSE).filter((file) => !readers.has(file))).toEqual([]);
  });
});
