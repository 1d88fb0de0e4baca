/**
 * The verdict of a chaos run: compares what clients were told (the ledger) with what every live
 * replica holds. It fails on an acknowledged write missing, any write applied twice, a row no
 * client wrote, an answer that disagrees with the stored row, replicas that differ, stale reads,
 * and a cluster that did not return to one master plus the desired slaves.
 */
import type { Ledger } from './workload.ts';
import type { ReplicaFacts } from './replica-facts.ts';
import type { SettleResult } from './settle.ts';

export interface CheckReport {
  ok: boolean;
  failures: string[];
  warnings: string[];
  summary: string[];
  text: string;
}

const EXAMPLES = 5;

/** Collects problems by kind, so a run with 3,000 lost writes reports a count and a few examples. */
class Findings {
  private readonly byKind = new Map<string, string[]>();

  add(kind: string, example: string): void {
    const list = this.byKind.get(kind) ?? [];
    list.push(example);
    this.byKind.set(kind, list);
  }

  lines(): string[] {
    return [...this.byKind].map(([kind, examples]) => {
      const more = examples.length > EXAMPLES ? '; …' : '';
      return `${kind}: ${examples.length} (e.g. ${examples.slice(0, EXAMPLES).join('; ')}${more})`;
    });
  }
}

export function checkReplicas(replicas: ReplicaFacts[], ledger: Ledger): { failures: string[]; summary: string[] } {
  const findings = new Findings();
  const summary: string[] = [];
  if (replicas.length === 0) findings.add('no replica to check', 'no live worker file found');
  for (const replica of replicas) {
    const where = replica.workerId;
    for (const write of ledger.acked) {
      const rows = replica.rides.get(write.marker) ?? [];
      if (rows.length === 0) findings.add('acknowledged write missing', `${where} lacks ${write.requestId} (seq ${write.seq}, epoch ${write.epoch})`);
      else if (rows.length > 1) findings.add('write applied twice', `${where} has ${rows.length} rows of ${write.requestId}`);
      else if (rows[0]?.rideId !== write.insertId) findings.add('answer differs from stored row', `${where}: ${write.requestId} answered ride ${write.insertId}, stored ${rows[0]?.rideId}`);
      const appliedAt = replica.order.get(write.requestId);
      if (appliedAt !== undefined && appliedAt !== write.seq) findings.add('answered seq differs from the log', `${where}: ${write.requestId} answered seq ${write.seq}, logged at ${appliedAt}`);
    }
    for (const write of ledger.unacked) {
      const rows = replica.rides.get(write.marker) ?? [];
      if (rows.length > 1) findings.add('write applied twice', `${where} has ${rows.length} rows of unacknowledged ${write.requestId}`);
    }
    for (const marker of replica.rides.keys()) {
      if (!ledger.issued.has(marker)) findings.add('row no client wrote', `${where} has marker ${marker}`);
    }
    summary.push(
      `  ${where}: applied seq ${replica.appliedSeq}, rows ${JSON.stringify(replica.counts)}, chaos rides ${replica.rides.size}, checksum ${replica.checksum.slice(0, 16)}`,
    );
  }
  const [first, ...others] = replicas;
  for (const other of others) {
    if (!first) break;
    if (other.checksum !== first.checksum) findings.add('replicas differ', `${other.workerId} checksum ≠ ${first.workerId}${describeDifference(first, other)}`);
    if (other.appliedSeq !== first.appliedSeq) findings.add('replicas at different seqs', `${other.workerId} at ${other.appliedSeq}, ${first.workerId} at ${first.appliedSeq}`);
    for (const [requestId, seq] of first.order) {
      const elsewhere = other.order.get(requestId);
      if (elsewhere !== undefined && elsewhere !== seq) findings.add('replicas applied writes in different orders', `${requestId} at seq ${seq} on ${first.workerId}, ${elsewhere} on ${other.workerId}`);
    }
  }
  return { failures: findings.lines(), summary };
}

/** Which counts differ, so "replicas differ" says where to look. */
function describeDifference(a: ReplicaFacts, b: ReplicaFacts): string {
  const tables = Object.keys(a.counts).filter((table) => a.counts[table] !== b.counts[table]);
  const missing = [...a.rides.keys()].filter((marker) => !b.rides.has(marker)).length;
  const extra = [...b.rides.keys()].filter((marker) => !a.rides.has(marker)).length;
  const parts = [...tables.map((table) => `${table} ${a.counts[table]} vs ${b.counts[table]}`)];
  if (missing || extra) parts.push(`chaos rides: ${missing} only on the first, ${extra} only on the other`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : ' (same counts: row contents differ)';
}

export function checkLedger(ledger: Ledger): { failures: string[]; warnings: string[] } {
  const failures: string[] = [];
  const warnings: string[] = [];
  const refused = ledger.unacked.filter((write) => write.lastStatus >= 400 && write.lastStatus < 500);
  if (refused.length > 0) failures.push(`valid writes refused: ${refused.length} (e.g. ${refused.slice(0, EXAMPLES).map((w) => `${w.requestId} → ${w.lastStatus} ${w.lastError}`).join('; ')})`);
  if (ledger.staleReads.length > 0) {
    failures.push(`stale reads (200 without a write the read's minSeq covers): ${ledger.staleReads.length} (e.g. ${JSON.stringify(ledger.staleReads.slice(0, EXAMPLES))})`);
  }
  const timedOut = ledger.unacked.length - refused.length;
  if (timedOut > 0) warnings.push(`writes never acknowledged before their deadline: ${timedOut} (allowed: each may be present once or not at all)`);
  if (ledger.writeStatuses['500'] || ledger.readStatuses['500']) warnings.push('the orchestrator answered 500 (an unhandled error) at least once');
  return { failures, warnings };
}

export function buildReport(title: string, settle: SettleResult, replicas: ReplicaFacts[], ledger: Ledger): CheckReport {
  const fromReplicas = checkReplicas(replicas, ledger);
  const fromLedger = checkLedger(ledger);
  const failures = [...settle.failures, ...fromReplicas.failures, ...fromLedger.failures];
  const attempts = ledger.acked.reduce((sum, write) => sum + write.attempts, 0);
  const retried = ledger.acked.filter((write) => write.attempts > 1).length;
  const slowest = ledger.acked.reduce((max, write) => Math.max(max, write.latencyMs), 0);
  const summary = [
    `writes: ${ledger.acked.length} acknowledged (${retried} after retries, ${attempts} attempts, slowest ${slowest} ms), ${ledger.unacked.length} unacknowledged`,
    `write statuses: ${JSON.stringify(ledger.writeStatuses)}; read statuses: ${JSON.stringify(ledger.readStatuses)}`,
    `epochs seen in answers: ${[...new Set(ledger.acked.map((write) => write.epoch))].sort((a, b) => a - b).join(', ')}`,
    `cluster: ${settle.description}`,
    ...fromReplicas.summary,
  ];
  const warnings = fromLedger.warnings;
  const ok = failures.length === 0;
  const text = [
    `=== ${title}: ${ok ? 'PASS' : 'FAIL'} ===`,
    ...summary,
    ...(warnings.length > 0 ? ['warnings:', ...warnings.map((line) => `  ${line}`)] : []),
    ...(ok ? ['no acknowledged write missing, none applied twice, replicas identical'] : ['FAILURES:', ...failures.map((line) => `  ${line}`)]),
  ].join('\n');
  return { ok, failures, warnings, summary, text };
}
