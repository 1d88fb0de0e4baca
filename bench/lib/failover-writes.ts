/**
 * One failover, measured the same way whatever the database: writers keep inserting distinct
 * keys (a few lanes, one write at a time each), the leader's process is killed, and a probe that
 * starts right after the kill writes until a write is acknowledged: the time from the signal (not
 * from the lookup of the leader before it) to that
 * acknowledgement is the failover's cost to a client. Once the database is whole again every
 * acknowledged key is looked for; one not found is an acknowledged write lost.
 */
import { sleep } from '../../src/shared/timeout.ts';

export interface FailoverTarget {
  /** One insert of `key`, given `timeoutMs`; true only when the database acknowledged it. */
  write(key: string, lane: number, timeoutMs: number): Promise<boolean>;
  /**
   * Kills the leader's process (SIGKILL); says what was killed, and when the signal went
   * (performance.now()): finding the leader first is not the failover's time.
   */
  kill(): Promise<{ killed: string; at: number }>;
  /** Resolves once the database is whole again (a leader and its standby or slaves). */
  whole(): Promise<void>;
  /** Which of the keys the database holds. */
  present(keys: string[]): Promise<Set<string>>;
}

export interface FailoverFigure {
  /** From the SIGKILL to the first write acknowledged after it. */
  recoveryMs: number;
  acknowledged: number;
  lost: number;
  failedAttempts: number;
  killed: string;
  /** The kill's wall-clock time (ms since the epoch), to line up with the database's own logs. */
  killedAtEpochMs: number;
  /** From the kill's call to its signal (finding the leader): outside recoveryMs. */
  lookupMs: number;
}

const LANES = 4;
const ATTEMPT_TIMEOUT_MS = 2000;
/** Acknowledged writes before the kill, and after the recovery, so that both sides of it are in the history. */
const WRITES_AROUND = 40;
const RECOVERY_BOUND_MS = 90_000;
/** A refused attempt is retried at once, after this breath, so a failing database is not spun against. */
const RETRY_PAUSE_MS = 10;

export async function measureFailover(target: FailoverTarget, label: string): Promise<FailoverFigure> {
  const acknowledged: string[] = [];
  let failedAttempts = 0;
  let stopping = false;
  let count = 0;
  const attempt = async (lane: number): Promise<boolean> => {
    const key = `${label}-${lane}-${count++}`;
    const ok = await target.write(key, lane, ATTEMPT_TIMEOUT_MS).catch(() => false);
    if (ok) acknowledged.push(key);
    else failedAttempts += 1;
    return ok;
  };
  const lane = async (index: number): Promise<void> => {
    while (!stopping) if (!(await attempt(index))) await sleep(RETRY_PAUSE_MS);
  };
  const lanes = Array.from({ length: LANES }, (_, index) => lane(index));
  try {
    if (!(await until(() => acknowledged.length >= WRITES_AROUND, 60_000))) throw new Error(`${label}: the writers got no ${WRITES_AROUND} acknowledgements before the kill`);
    const asked = performance.now();
    const { killed, at: killedAt } = await target.kill();
    const killedAtEpochMs = Date.now() - (performance.now() - killedAt);
    let recoveryMs = Number.NaN;
    while (performance.now() - killedAt < RECOVERY_BOUND_MS) {
      if (await attempt(LANES)) {
        recoveryMs = performance.now() - killedAt;
        break;
      }
      await sleep(RETRY_PAUSE_MS);
    }
    const after = acknowledged.length + WRITES_AROUND;
    await until(() => acknowledged.length >= after, 30_000);
    stopping = true;
    await Promise.all(lanes);
    await target.whole();
    const present = await target.present(acknowledged);
    return { recoveryMs, acknowledged: acknowledged.length, lost: acknowledged.filter((key) => !present.has(key)).length, failedAttempts, killed, killedAtEpochMs, lookupMs: killedAt - asked };
  } finally {
    stopping = true;
    await Promise.all(lanes);
  }
}

async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}
