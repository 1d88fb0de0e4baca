/**
 * The figures of a fault run, added up over rounds: faults injected by kind with their heal
 * times (median and worst), and the history's counts (writes acknowledged, lost, duplicated,
 * applied after a 503 without a retry). CI prints them after each test file, the soak at its end.
 */
import type { CheckReport } from '../chaos/checker.ts';
import type { Ledger } from '../chaos/workload.ts';

/** What a round must tell the figures: the single-host suite's rounds and the test bed's (harness/hosts/bed-faults) alike. */
export interface FiguresRound {
  label: string;
  seed: number;
  kinds: readonly string[];
  faults: readonly { kind: string; healMs?: number }[];
  report: CheckReport;
  ledger: Ledger;
  failures: readonly string[];
  resetBefore?: string;
}

interface KindFigures {
  injected: number;
  healMs: number[];
  notHealed: number;
  rounds: number;
  failedRounds: number;
  /** The history's counts of the rounds of this kind (a soak's rounds have one kind each). */
  acked: number;
  lost: number;
  duplicated: number;
}

export class Figures {
  private readonly byKind = new Map<string, KindFigures>();
  private readonly totals = {
    rounds: 0,
    failedRounds: 0,
    resets: 0,
    acked: 0,
    unacked: 0,
    lost: 0,
    duplicated: 0,
    final503: 0,
    presentAfter503: 0,
    appliedAfter503: 0,
    staleReads: 0,
    checkedReads: 0,
    clientOrder: 0,
  };
  private readonly failed: string[] = [];

  add(round: FiguresRound): void {
    const figures = round.report.figures;
    this.totals.rounds += 1;
    if (round.failures.length > 0) {
      this.totals.failedRounds += 1;
      this.failed.push(`${round.label} (seed ${round.seed})`);
    }
    if (round.resetBefore) this.totals.resets += 1;
    this.totals.acked += figures.acked;
    this.totals.unacked += round.ledger.unacked.length;
    this.totals.lost += figures.lost;
    this.totals.duplicated += figures.duplicated;
    this.totals.final503 += figures.final503;
    this.totals.presentAfter503 += figures.presentAfter503;
    this.totals.appliedAfter503 += figures.appliedAfter503;
    this.totals.staleReads += figures.staleReads;
    this.totals.checkedReads += round.ledger.checkedReads;
    this.totals.clientOrder += figures.clientOrderViolations;
    for (const kind of new Set(round.kinds)) {
      const entry = this.entry(kind);
      entry.rounds += 1;
      if (round.failures.length > 0) entry.failedRounds += 1;
      entry.acked += figures.acked;
      entry.lost += figures.lost;
      entry.duplicated += figures.duplicated;
    }
    for (const fault of round.faults) {
      const entry = this.entry(fault.kind);
      entry.injected += 1;
      if (fault.healMs !== undefined) entry.healMs.push(fault.healMs);
      else entry.notHealed += 1;
    }
  }

  get failedRounds(): number {
    return this.totals.failedRounds;
  }

  table(title: string): string {
    const rows = [['fault kind', 'injected', 'healed', 'not healed', 'heal median', 'heal worst', 'acked', 'lost', 'doubled', 'rounds failed']];
    for (const [kind, entry] of [...this.byKind].sort(([a], [b]) => a.localeCompare(b))) {
      const sorted = [...entry.healMs].sort((a, b) => a - b);
      rows.push([
        kind,
        String(entry.injected),
        String(sorted.length),
        String(entry.notHealed),
        seconds(median(sorted)),
        seconds(sorted.at(-1)),
        String(entry.acked),
        String(entry.lost),
        String(entry.duplicated),
        `${entry.failedRounds}/${entry.rounds}`,
      ]);
    }
    const t = this.totals;
    return [
      `=== ${title} ===`,
      ...columns(rows),
      '',
      `rounds: ${t.rounds} (${t.failedRounds} failed${t.resets ? `, ${t.resets} started on a fresh cluster after an unhealed one` : ''})`,
      `writes acknowledged: ${t.acked}; unacknowledged: ${t.unacked}`,
      `acknowledged writes lost: ${t.lost}`,
      `writes applied more than once: ${t.duplicated}`,
      `writes ended by a 503 without a retry: ${t.final503}; present: ${t.presentAfter503}; applied after their 503: ${t.appliedAfter503}`,
      `minSeq reads checked: ${t.checkedReads}; stale: ${t.staleReads}; client-order violations: ${t.clientOrder}`,
      ...(this.failed.length > 0 ? [`failed rounds: ${this.failed.join(', ')}`] : []),
    ].join('\n');
  }

  private entry(kind: string): KindFigures {
    let entry = this.byKind.get(kind);
    if (!entry) {
      entry = { injected: 0, healMs: [], notHealed: 0, rounds: 0, failedRounds: 0, acked: 0, lost: 0, duplicated: 0 };
      this.byKind.set(kind, entry);
    }
    return entry;
  }
}

function median(sorted: number[]): number | undefined {
  if (sorted.length === 0) return undefined;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`;
}

function columns(rows: string[][]): string[] {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row, index) => {
    const line = row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
    return index === 0 ? `${line}\n${'-'.repeat(line.length)}` : line;
  });
}
