/**
 * The verdict of a chaos run: compares what clients were told (the ledger) with what every live
 * replica holds. It fails on an acknowledged write missing, any write applied twice, a row no
 * client wrote, an answer that disagrees with the stored row, replicas that differ, stale reads,
 * a client's writes applied out of the order it issued them, a write applied after the 503 that
 * ended it, and a cluster that did not return to one master plus the desired slaves.
 */
import type { AckedWrite, Ledger, UnackedWrite } from './workload.ts';
import type { ChaosRide, ReplicaFacts } from './replica-facts.ts';
import type { SettleResult } from './settle.ts';

export interface CheckReport {
  ok: boolean;
  failures: string[];
  warnings: string[];
  summary: string[];
  text: string;
  figures: HistoryFigures;
}

/** The counts a soak prints; each is also a failure (or a warning) in the report when non-zero. */
export interface HistoryFigures {
  acked: number;
  /** Acknowledged writes missing on at least one replica. */
  lost: number;
  /** Writes (acknowledged or not) stored more than once on at least one replica. */
  duplicated: number;
  /** Writes whose last attempt was answered 503 and that were never retried after it. */
  final503: number;
  /** Of those, present in the replicas (allowed: applied before the 503 was sent). */
  presentAfter503: number;
  /** Of those, proven applied after their 503: a write issued after the 503 sits before it in the log. */
  appliedAfter503: number;
  /** Acknowledged writes of one client whose seqs do not follow the order the client issued them in. */
  clientOrderViolations: number;
  staleReads: number;
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
      const stored = rows[0];
      if (stored && !holdsWhatWasSent(stored, write))
        findings.add('stored row differs from what the client sent', `${where}: ${write.requestId} sent ${describeSent(write)}, stored ${describeStored(stored)}`);
      const appliedAt = replica.order.get(write.requestId);
      if (appliedAt !== undefined && appliedAt !== write.seq) findings.add('answered seq differs from the log', `${where}: ${write.requestId} answered seq ${write.seq}, logged at ${appliedAt}`);
    }
    for (const write of ledger.unacked) {
      const rows = replica.rides.get(write.marker) ?? [];
      if (rows.length > 1) findings.add('write applied twice', `${where} has ${rows.length} rows of unacknowledged ${write.requestId}`);
      const stored = rows[0];
      if (stored && !holdsWhatWasSent(stored, write))
        findings.add('stored row differs from what the client sent', `${where}: unacknowledged ${write.requestId} sent ${describeSent(write)}, stored ${describeStored(stored)}`);
    }
    for (const marker of replica.rides.keys()) {
      if (!ledger.issued.has(marker)) findings.add('row no client wrote', `${where} has marker ${marker}`);
    }
    for (const stranger of replica.strangers) findings.add('row no client wrote', `${where} has ${stranger}`);
    summary.push(`  ${where}: applied seq ${replica.appliedSeq}, rows ${JSON.stringify(replica.counts)}, chaos rides ${replica.rides.size}, checksum ${replica.checksum.slice(0, 16)}`);
  }
  const [first, ...others] = replicas;
  for (const other of others) {
    if (!first) break;
    if (other.checksum !== first.checksum) findings.add('replicas differ', `${other.workerId} checksum ≠ ${first.workerId}${describeDifference(first, other)}`);
    if (other.appliedSeq !== first.appliedSeq) findings.add('replicas at different seqs', `${other.workerId} at ${other.appliedSeq}, ${first.workerId} at ${first.appliedSeq}`);
    for (const [requestId, seq] of first.order) {
      const elsewhere = other.order.get(requestId);
      if (elsewhere !== undefined && elsewhere !== seq)
        findings.add('replicas applied writes in different orders', `${requestId} at seq ${seq} on ${first.workerId}, ${elsewhere} on ${other.workerId}`);
    }
  }
  return { failures: findings.lines(), summary };
}

function holdsWhatWasSent(stored: ChaosRide, write: AckedWrite | UnackedWrite): boolean {
  return stored.createdBy === write.writer && stored.source === write.sent.source && stored.destination === write.sent.destination;
}

function describeSent(write: AckedWrite | UnackedWrite): string {
  return `${write.writer} ${write.sent.source}→${write.sent.destination}`;
}

function describeStored(stored: ChaosRide): string {
  return `${stored.createdBy} ${stored.source}→${stored.destination}`;
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
  if (refused.length > 0)
    failures.push(
      `valid writes refused: ${refused.length} (e.g. ${refused
        .slice(0, EXAMPLES)
        .map((w) => `${w.requestId} → ${w.lastStatus} ${w.lastError}`)
        .join('; ')})`,
    );
  if (ledger.staleReads.length > 0) {
    failures.push(`stale reads (200 without a write the read's minSeq covers): ${ledger.staleReads.length} (e.g. ${JSON.stringify(ledger.staleReads.slice(0, EXAMPLES))})`);
  }
  const timedOut = ledger.unacked.length - refused.length;
  if (timedOut > 0) warnings.push(`writes never acknowledged before their deadline: ${timedOut} (allowed: each may be present once or not at all)`);
  if (ledger.writeStatuses['500'] || ledger.readStatuses['500']) warnings.push('the orchestrator answered 500 (an unhandled error) at least once');
  return { failures, warnings };
}

/**
 * The history checks: per-client order and deadlines. A write's place in the log is its ride's id:
 * rides take ids in the order they are applied (AUTOINCREMENT, the same on every replica), so
 * this needs nothing of the product's own request-id table, which forgets old ids; unacknowledged
 * writes that were applied have a place too.
 *
 * Deadlines: a write whose last attempt got a 503 was told "not done"; the service may still
 * have applied it before sending the 503, never after. "After" is proven, without trusting any
 * clock but the test's own, by a write Y issued after the 503 arrived that sits *before* X in
 * the log: Y was applied after the 503, and X after Y.
 */
export function checkHistory(replicas: ReplicaFacts[], ledger: Ledger): { failures: string[]; figures: HistoryFigures } {
  const findings = new Findings();
  const seqOf = (write: { marker: number }): number | undefined => {
    for (const replica of replicas) {
      const ride = replica.rides.get(write.marker)?.[0];
      if (ride) return ride.rideId;
    }
    return undefined;
  };
  const lost = ledger.acked.filter((write) => replicas.some((replica) => (replica.rides.get(write.marker)?.length ?? 0) === 0)).length;
  const duplicated = [...ledger.acked, ...ledger.unacked].filter((write) => replicas.some((replica) => (replica.rides.get(write.marker)?.length ?? 0) > 1)).length;

  const byWriter = new Map<string, typeof ledger.acked>();
  for (const write of ledger.acked) byWriter.set(write.writer, [...(byWriter.get(write.writer) ?? []), write]);
  let clientOrderViolations = 0;
  for (const [writer, writes] of byWriter) {
    const ordered = [...writes].sort((a, b) => (a.sequence ?? 0) - (b.sequence ?? 0));
    for (let i = 1; i < ordered.length; i += 1) {
      const [before, after] = [ordered[i - 1], ordered[i]];
      if (!before || !after) continue;
      const [logBefore, logAfter] = [seqOf(before) ?? before.insertId, seqOf(after) ?? after.insertId];
      if (after.seq > before.seq && logAfter > logBefore) continue;
      clientOrderViolations += 1;
      findings.add(
        'client order broken',
        `${writer}: ${after.requestId} issued after ${before.requestId} was acknowledged, yet answered seq ${after.seq} (ride ${logAfter}) vs ${before.seq} (ride ${logBefore})`,
      );
    }
  }

  const final503 = ledger.unacked.filter((write) => write.attemptLog?.at(-1)?.status === 503);
  const issued = [...ledger.acked, ...ledger.unacked]
    .map((write) => ({ write, seq: seqOf(write) }))
    .filter((entry): entry is { write: (typeof entry)['write']; seq: number } => entry.seq !== undefined && entry.write.issuedAt !== undefined)
    .sort((a, b) => a.write.issuedAt - b.write.issuedAt);
  // Lowest log position among the writes issued at or after each index: one pass, then binary search.
  const lowestFrom: { seq: number; requestId: string }[] = new Array(issued.length);
  for (let i = issued.length - 1; i >= 0; i -= 1) {
    const here = { seq: (issued[i] as (typeof issued)[number]).seq, requestId: (issued[i] as (typeof issued)[number]).write.requestId };
    const next = lowestFrom[i + 1];
    lowestFrom[i] = next && next.seq < here.seq ? next : here;
  }
  let presentAfter503 = 0;
  let appliedAfter503 = 0;
  for (const write of final503) {
    const seq = seqOf(write);
    if (seq === undefined) continue;
    presentAfter503 += 1;
    const answeredAt = write.attemptLog.at(-1)?.endedAt ?? 0;
    const first = firstIssuedAfter(issued, answeredAt);
    const witness = first === undefined ? undefined : lowestFrom[first];
    if (witness && witness.seq < seq) {
      appliedAfter503 += 1;
      findings.add('write applied after its 503 (never retried)', `${write.requestId} got 503 at ${answeredAt}, is ride ${seq}, after ${witness.requestId} (ride ${witness.seq}) issued later`);
    }
    const sameClientLater = issued.find((entry) => entry.write.writer === write.writer && entry.write.sequence > write.sequence && entry.seq < seq);
    if (sameClientLater) {
      findings.add(
        "a client's later write ordered before its 503'd write",
        `${write.writer}: ${sameClientLater.write.requestId} (ride ${sameClientLater.seq}) before ${write.requestId} (ride ${seq})`,
      );
    }
  }
  const figures: HistoryFigures = {
    acked: ledger.acked.length,
    lost,
    duplicated,
    final503: final503.length,
    presentAfter503,
    appliedAfter503,
    clientOrderViolations,
    staleReads: ledger.staleReads.length,
  };
  return { failures: findings.lines(), figures };
}

function firstIssuedAfter(issued: { write: { issuedAt: number } }[], time: number): number | undefined {
  let low = 0;
  let high = issued.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if ((issued[middle]?.write.issuedAt ?? 0) > time) high = middle;
    else low = middle + 1;
  }
  return low < issued.length ? low : undefined;
}

export function buildReport(title: string, settle: SettleResult, replicas: ReplicaFacts[], ledger: Ledger): CheckReport {
  const fromReplicas = checkReplicas(replicas, ledger);
  const fromLedger = checkLedger(ledger);
  const fromHistory = checkHistory(replicas, ledger);
  // A run that acknowledged nothing has shown nothing kept: it cannot pass.
  const nothingAcked = ledger.acked.length === 0 ? ['no write was acknowledged in the whole run'] : [];
  const failures = [...settle.failures, ...nothingAcked, ...fromReplicas.failures, ...fromLedger.failures, ...fromHistory.failures];
  const figures = fromHistory.figures;
  const attempts = ledger.acked.reduce((sum, write) => sum + write.attempts, 0);
  const retried = ledger.acked.filter((write) => write.attempts > 1).length;
  const slowest = ledger.acked.reduce((max, write) => Math.max(max, write.latencyMs), 0);
  const summary = [
    `writes: ${ledger.acked.length} acknowledged (${retried} after retries, ${attempts} attempts, slowest ${slowest} ms), ${ledger.unacked.length} unacknowledged`,
    `write statuses: ${JSON.stringify(ledger.writeStatuses)}; read statuses: ${JSON.stringify(ledger.readStatuses)}`,
    `epochs seen in answers: ${[...new Set(ledger.acked.map((write) => write.epoch))].sort((a, b) => a - b).join(', ')}`,
    `history: ${figures.final503} writes ended by a 503 without retry (${figures.presentAfter503} present, ${figures.appliedAfter503} applied after their 503); ${ledger.checkedReads} minSeq reads checked, ${figures.staleReads} stale; ${figures.clientOrderViolations} client-order violations`,
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
  return { ok, failures, warnings, summary, text, figures };
}
