/**
 * The ZooKeeper link watch (src/dbaas/coordination/LinkWatch.ts) measures silence on the monotonic
 * clock: the host's wall clock stepped 30 s back (an NTP step) at the moment the server goes
 * silent must not hide the silence for 30 s. The server here is a probe the test answers or
 * leaves unanswered; the step is the process's Date.now() moved by the offset.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { until } from '../../harness/replicas.ts';
import { LinkWatch } from '../../src/dbaas/coordination/LinkWatch.ts';

const SILENCE_LIMIT_MS = 600;
const STEP_MS = 30_000;

/** Moves this process's wall clock by `offsetMs` from now on (performance.now() is left alone). */
function stepWallClock(offsetMs: number): void {
  const trueNow = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => trueNow() + offsetMs);
}

describe('a link watch across a step of the wall clock', () => {
  let watch: LinkWatch | undefined;

  afterEach(() => {
    watch?.stop();
    vi.restoreAllMocks();
  });

  it('stepped back as the link goes silent: the silence is noticed within the limit, not 30 s later', async () => {
    let answering = true;
    let answered = 0;
    let silentAt: number | undefined;
    watch = new LinkWatch({
      silenceLimitMs: SILENCE_LIMIT_MS,
      probe: (done) => {
        if (!answering) return;
        answered += 1;
        done(true);
      },
      onSilent: () => (silentAt = performance.now()),
    });
    // A few answered questions first: the watch has heard the server.
    await until(() => answered >= 3 || undefined, 4 * SILENCE_LIMIT_MS, 'three answered questions');
    const silenceFrom = performance.now();
    answering = false;
    stepWallClock(-STEP_MS);
    await until(() => silentAt !== undefined || undefined, 4 * SILENCE_LIMIT_MS, 'the watch to notice the silence');
    expect((silentAt as number) - silenceFrom).toBeLessThan(3 * SILENCE_LIMIT_MS);
  });
});
