/**
 * The history checks must catch what they exist to catch, on histories built by hand (no
 * servers): a write applied after the 503 that ended it, a client's writes applied out of the
 * order it issued them, lost and duplicated writes in the figures, and a writer that cannot read
 * what it was just told it wrote.
 */
import { describe, expect, it } from 'vitest';
import { buildReport, checkHistory, checkReplicas } from '../../harness/chaos/checker.ts';
import type { ChaosRide, ReplicaFacts } from '../../harness/chaos/replica-facts.ts';
import type { SettleResult } from '../../harness/chaos/settle.ts';
import type { AckedWrite, Ledger, UnackedWrite } from '../../harness/chaos/workload.ts';

const BASE = 2_000_000_000;

function acked(writer: number, sequence: number, seq: number, issuedAt: number): AckedWrite {
  return {
    requestId: `h-w${writer}-${sequence}`,
    writer: `h-w${writer}`,
    marker: BASE + writer * 1_000_000 + sequence,
    sent: { source: 3, destination: 7 },
    seq,
    insertId: seq,
    epoch: 1,
    attempts: 1,
    latencyMs: 5,
    sequence,
    issuedAt,
    attemptLog: [{ sentAt: issuedAt, endedAt: issuedAt + 5, status: 200 }],
  };
}

function refused503(writer: number, sequence: number, issuedAt: number, answeredAt: number): UnackedWrite {
  return {
    requestId: `h-w${writer}-${sequence}`,
    writer: `h-w${writer}`,
    marker: BASE + writer * 1_000_000 + sequence,
    sent: { source: 3, destination: 7 },
    attempts: 1,
    lastStatus: 503,
    lastError: 'TIMEOUT',
    sequence,
    issuedAt,
    attemptLog: [{ sentAt: issuedAt, endedAt: answeredAt, status: 503 }],
    gaveUp: true,
  };
}

function ledgerOf(acks: AckedWrite[], unacks: UnackedWrite[] = []): Ledger {
  const issued = new Map<number, string>();
  for (const write of [...acks, ...unacks]) issued.set(write.marker, write.requestId);
  return { writers: ['h-w0', 'h-w1'], acked: acks, unacked: unacks, issued, writeStatuses: {}, readStatuses: {}, staleReads: [], checkedReads: 0, samples: {} };
}

/** A replica holding `present` at the given seqs (`copies` rows each, default 1), its rows as the client sent them unless `stored` says otherwise. */
function replica(
  present: { write: AckedWrite | UnackedWrite; seq: number; copies?: number; stored?: Partial<ChaosRide> }[],
  options: { strangers?: string[]; withRequestIds?: boolean } = {},
): ReplicaFacts {
  const rides = new Map<number, ChaosRide[]>();
  const order = new Map<string, number>();
  for (const { write, seq, copies, stored } of present) {
    if (options.withRequestIds !== false) order.set(write.requestId, seq);
    const row: ChaosRide = { rideId: seq, createdBy: write.writer, ...write.sent, ...stored };
    rides.set(
      write.marker,
      Array.from({ length: copies ?? 1 }, () => row),
    );
  }
  const appliedSeq = Math.max(0, ...present.map((entry) => entry.seq));
  return { workerId: 'r1', file: 'r1.db', appliedSeq, order, counts: {}, checksum: 'x', rides, strangers: options.strangers ?? [] };
}

const settled: SettleResult = { settled: true, waitedMs: 0, workers: [], failures: [], description: 'settled' };

describe('the history checks', () => {
  it('pass a history where a 503 write was applied before its 503', () => {
    const first = acked(0, 0, 1, 100);
    const timedOut = refused503(1, 0, 110, 2600);
    const later = acked(1, 1, 3, 2700);
    const ledger = ledgerOf([first, later], [timedOut]);
    const report = buildReport(
      'ok',
      settled,
      [
        replica([
          { write: first, seq: 1 },
          { write: timedOut, seq: 2 },
          { write: later, seq: 3 },
        ]),
      ],
      ledger,
    );
    expect(report.failures).toEqual([]);
    expect(report.figures).toMatchObject({ final503: 1, presentAfter503: 1, appliedAfter503: 0, lost: 0, duplicated: 0 });
  });

  it('catch a write applied after its 503, by a write issued later that sits before it in the log', () => {
    const timedOut = refused503(1, 0, 100, 2600);
    const later = acked(0, 0, 1, 2700);
    const sameClient = acked(1, 1, 2, 2800);
    const { failures, figures } = checkHistory(
      [
        replica([
          { write: later, seq: 1 },
          { write: sameClient, seq: 2 },
          { write: timedOut, seq: 3 },
        ]),
      ],
      ledgerOf([later, sameClient], [timedOut]),
    );
    expect(figures.appliedAfter503).toBe(1);
    expect(failures.join('\n')).toContain('write applied after its 503 (never retried): 1');
    expect(failures.join('\n')).toContain(timedOut.requestId);
    expect(failures.join('\n')).toContain("a client's later write ordered before its 503'd write: 1");
  });

  it('catch acknowledged writes of one client applied out of the order it issued them', () => {
    const one = acked(0, 0, 5, 100);
    const two = acked(0, 1, 4, 200);
    const { failures, figures } = checkHistory(
      [
        replica([
          { write: two, seq: 4 },
          { write: one, seq: 5 },
        ]),
      ],
      ledgerOf([one, two]),
    );
    expect(figures.clientOrderViolations).toBe(1);
    expect(failures.join('\n')).toContain('client order broken: 1');
  });

  it('count lost and duplicated writes in the figures', () => {
    const kept = acked(0, 0, 1, 100);
    const lost = acked(0, 1, 2, 200);
    const twice = acked(0, 2, 3, 300);
    const { figures } = checkHistory(
      [
        replica([
          { write: kept, seq: 1 },
          { write: twice, seq: 3, copies: 2 },
        ]),
      ],
      ledgerOf([kept, lost, twice]),
    );
    expect(figures).toMatchObject({ acked: 3, lost: 1, duplicated: 1 });
  });

  it("fail a writer's read of its own write that misses it", () => {
    const write = acked(0, 0, 1, 100);
    const ledger = ledgerOf([write]);
    ledger.staleReads.push({ marker: write.marker, minSeq: 1, answeredSeq: 0, rows: 0, client: write.writer });
    const report = buildReport('stale', settled, [replica([{ write, seq: 1 }])], ledger);
    expect(report.failures.join('\n')).toContain('stale reads');
    expect(report.figures.staleReads).toBe(1);
  });

  it('catch a stored row whose creator, source or destination is not what the client sent', () => {
    const write = acked(0, 0, 1, 100);
    const { failures } = checkReplicas([replica([{ write, seq: 1, stored: { destination: 8 } }])], ledgerOf([write]));
    expect(failures.join('\n')).toContain('stored row differs from what the client sent: 1');
    const other = acked(0, 1, 2, 200);
    const swapped = checkReplicas([replica([{ write: other, seq: 2, stored: { createdBy: 'h-w1' } }])], ledgerOf([other]));
    expect(swapped.failures.join('\n')).toContain('stored row differs from what the client sent: 1');
  });

  it('catch users and seats of the run that no client wrote', () => {
    const write = acked(0, 0, 1, 100);
    const { failures } = checkReplicas([replica([{ write, seq: 1 }], { strangers: ['user h-w9', 'seat of h-w0 on ride 1'] })], ledgerOf([write]));
    expect(failures.join('\n')).toContain('row no client wrote: 2');
  });

  it('place writes in the log without the product\u2019s request-id table (it forgets old ids)', () => {
    const one = acked(0, 0, 5, 100);
    const two = acked(0, 1, 4, 200);
    const { figures } = checkHistory(
      [
        replica(
          [
            { write: two, seq: 4 },
            { write: one, seq: 5 },
          ],
          { withRequestIds: false },
        ),
      ],
      ledgerOf([one, two]),
    );
    expect(figures.clientOrderViolations).toBe(1);
    const timedOut = refused503(1, 0, 100, 2600);
    const later = acked(0, 2, 6, 2700);
    const after = checkHistory(
      [
        replica(
          [
            { write: later, seq: 6 },
            { write: timedOut, seq: 7 },
          ],
          { withRequestIds: false },
        ),
      ],
      ledgerOf([later], [timedOut]),
    );
    expect(after.figures.appliedAfter503).toBe(1);
  });

  it('fail a run in which no write was acknowledged', () => {
    const timedOut = refused503(1, 0, 100, 2600);
    const report = buildReport('nothing acknowledged', settled, [replica([])], ledgerOf([], [timedOut]));
    expect(report.ok).toBe(false);
    expect(report.failures).toContain('no write was acknowledged in the whole run');
  });
});
