/**
 * One round of the bed's fault suite: the database's clients (harness/chaos/workload.ts) write
 * and read through the orchestrators of every host, and the product's clients go through every
 * host's gateway (route-stream.ts), while one fault of the given kind is injected into a host
 * that holds no master, held, and undone (it begins once the deployment is whole and every
 * host's RabbitMQ node runs in the cluster again, so that it adds one fault, not a second on top
 * of a node still booting); then the round waits until the deployment is whole
 * (heal: from the injection until every host's orchestrator and gateway is ready and a probe
 * write is acknowledged), the database settles, and the history checker compares what the
 * clients were told with every replica: those ZooKeeper lists and those found as files in any
 * host's DATA_DIR (each host's agent keeps its workers' files in its own). The users and rides the gateways acknowledged must be in every replica too.
 */
import Database from 'better-sqlite3';
import { positionIfReadable } from '../../../src/dbaas/replication/replica-file.ts';
import { sleep } from '../../../src/shared/timeout.ts';
import { buildReport, type CheckReport } from '../../chaos/checker.ts';
import { Random } from '../../chaos/prng.ts';
import { readReplicaFacts, type ReplicaFacts } from '../../chaos/replica-facts.ts';
import { settle } from '../../chaos/settle.ts';
import { Workload, type Ledger } from '../../chaos/workload.ts';
import type { FiguresRound } from '../../faults/figures.ts';
import type { BedFaultEnvironment } from './bed-fault-environment.ts';
import { injectBedFault, type BedFaultName, type BedInjection } from './bed-kinds.ts';
import { RouteStream, type RouteAnswer } from './route-stream.ts';
import { existsSync } from 'node:fs';

export interface BedRoundOptions {
  env: BedFaultEnvironment;
  kind: BedFaultName;
  seed: number;
  /** Prefixes request ids and usernames: unique per round. */
  label: string;
  healTimeoutMs?: number;
  settleTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface BedFaultRecord {
  kind: BedFaultName;
  atMs: number;
  detail: string;
  healMs?: number;
  notHealed?: string;
}

export interface BedRoundResult extends FiguresRound {
  kinds: readonly BedFaultName[];
  faults: BedFaultRecord[];
  report: CheckReport;
  ledger: Ledger;
  failures: string[];
  routes: RouteAnswer[];
  /** What the spared gateways answered while the fault held. */
  routeSummary: string;
  text: string;
}

const DEFAULT_HEAL_TIMEOUT_MS = 180_000;
/** Past this long after the harm, the highly available placement answers every route through the other gateways. */
export const NOTICE_MS = 15_000;
/**
 * Kinds after which the ha placement must keep every route answering through the hosts the fault
 * spares. A one-way partition is held to it as a both-ways one is: each RabbitMQ node gives up a
 * link its peer no longer acknowledges, and no host goes through a third host's node.
 */
const ROUTES_MUST_ANSWER: readonly BedFaultName[] = [
  'users-host-crash',
  'rides-host-crash',
  'slave-host-crash',
  'host-crash-wiped',
  'users-host-freeze',
  'partition-both',
  'partition-outgoing',
  'partition-incoming',
];

export async function runBedRound(options: BedRoundOptions): Promise<BedRoundResult> {
  const { env, kind } = options;
  const log = options.log ?? (() => undefined);
  const healTimeoutMs = options.healTimeoutMs ?? DEFAULT_HEAL_TIMEOUT_MS;
  const failures: string[] = [];
  const roundStart = Date.now();
  const unwell = await env.waitWholeWithEveryNode(healTimeoutMs);
  if (unwell) failures.push(`the deployment was not whole before the round: ${unwell}`);
  const random = new Random(options.seed);
  const workload = new Workload({
    orchestratorUrl: env.liveOrchestratorUrls()[0] as string,
    orchestratorUrls: () => env.liveOrchestratorUrls(),
    random: random.fork('workload'),
    writers: 4,
    giveUpWriters: 1,
    readers: 1,
    ownReads: 0.3,
    probeWriter: true,
    tag: options.label,
    pauseMs: 30,
    impatientAttemptMs: 1000,
    headers: env.serviceHeaders,
    // A write through a host whose link to the broker went silent waits out the RPC deadline: retried, never lost.
    writeDeadlineMs: 60_000,
  });
  await workload.start();
  // Not under the workload's `<label>-` names, which the checker holds to its own writers.
  const routes = new RouteStream(env, `gw-${options.label}`);
  await routes.start().catch((error: unknown) => failures.push(`the gateway traffic did not start: ${error instanceof Error ? error.message : String(error)}`));
  await sleep(2000);

  const injectedAt = Date.now();
  let appliedAt = injectedAt;
  let injection: BedInjection | undefined;
  let detail: string;
  try {
    injection = await injectBedFault(kind, { env, random: random.fork('fault'), applied: () => (appliedAt = Date.now()) });
    detail = injection.detail;
  } catch (error) {
    env.faulted = undefined;
    detail = `injection failed: ${error instanceof Error ? error.message : String(error)}`;
    failures.push(`${kind}: ${detail}`);
  }
  const undoneAt = Date.now();
  const record: BedFaultRecord = { kind, atMs: injectedAt - roundStart, detail };
  const notWhole = await env.waitWhole(healTimeoutMs);
  if (notWhole) {
    record.notHealed = notWhole;
    failures.push(`${kind} did not heal within ${healTimeoutMs} ms of its end: ${notWhole}`);
  } else {
    const probe = await workload.probe({ attemptTimeoutMs: 10_000, maxAttempts: 3 });
    if ('seq' in probe) record.healMs = Date.now() - appliedAt;
    else {
      record.notHealed = `whole, but the probe write got ${probe.lastStatus} ${probe.lastError}`;
      failures.push(`${kind}: ${record.notHealed}`);
    }
  }
  // The wall-clock time of the harm, to line the round up with the hosts' logs (DEPLOYMENT_LOG_DIR).
  log(
    `[${options.label}] ${kind} at ${new Date(appliedAt).toISOString().slice(11, 23)}: ${detail} → ${record.healMs !== undefined ? `healed in ${(record.healMs / 1000).toFixed(1)} s` : `NOT healed: ${record.notHealed}`}`,
  );
  await sleep(1000);
  await routes.stop();
  const ledger = await workload.stop();
  const probe = await workload.probe();
  const minSeq = Math.max(0, ...ledger.acked.map((write) => write.seq));
  const settled = await settle(env.view(), { desiredSlaves: await env.desiredSlaves(), minSeq, timeoutMs: options.settleTimeoutMs ?? 60_000 });
  if (!('seq' in probe)) settled.failures.push(`the probe write after the fault was not acknowledged: ${probe.lastStatus} ${probe.lastError}`);

  const { replicas, notes } = replicasToCheck(
    env,
    settled.workers.map((worker) => worker.workerId),
    minSeq,
    ledger.writers,
  );
  settled.failures.push(...notes.problems);
  const report = buildReport(`bed fault ${options.label} (seed ${options.seed}): ${kind}`, settled, replicas, ledger);
  failures.push(...report.failures);
  failures.push(...gatewayAcknowledgedMissing(replicas, routes));
  const during = routes.answers.filter((answer) => answer.at >= appliedAt && answer.at < undoneAt);
  const routeVerdict = routesDuringFault(env.deployment.placement, kind, during, appliedAt);
  if (routeVerdict.violation) failures.push(routeVerdict.violation);
  const internal = (ledger.writeStatuses['500'] ?? 0) + (ledger.readStatuses['500'] ?? 0);
  if (internal > 0) failures.push(`an orchestrator answered 500 (an unhandled error) ${internal} times`);

  const verdict = failures.length === 0 ? 'PASS' : 'FAIL';
  const lines = [
    report.text.replace(/\nFAILURES:[\s\S]*$/, '').replace(/: (PASS|FAIL) ===/, `: ${verdict} ===`),
    `replicas checked: ${replicas.map((replica) => replica.workerId).join(', ')} (${notes.fromFiles} found only as files in a host's DATA_DIR; ${notes.behind.length ? `behind, not checked: ${notes.behind.join(', ')}` : 'none behind'})`,
    `through the gateways: ${routes.ackedUsers.length} users and ${routes.ackedRides.length} rides acknowledged; during the fault ${routeVerdict.summary}`,
    `fault: ${detail}; held ${injection ? (injection.heldMs / 1000).toFixed(1) : '?'} s → ${record.healMs !== undefined ? `healed in ${(record.healMs / 1000).toFixed(1)} s` : `NOT healed (${record.notHealed})`}`,
    ...(failures.length > 0 ? ['FAILURES:', ...failures.map((line) => `  ${line}`)] : []),
  ];
  return { label: options.label, seed: options.seed, kinds: [kind], faults: [record], report, ledger, failures, routes: routes.answers, routeSummary: routeVerdict.summary, text: lines.join('\n') };
}

/**
 * The replicas the checker reads: every worker ZooKeeper lists, and every worker file in any
 * host's data folder that claims the last acknowledged write (a file behind it is a retired or
 * half-made copy, named in the report but not held to the writes).
 */
function replicasToCheck(env: BedFaultEnvironment, listed: readonly string[], minSeq: number, writers: readonly string[]) {
  const replicas: ReplicaFacts[] = [];
  const problems: string[] = [];
  const behind: string[] = [];
  let fromFiles = 0;
  for (const workerId of new Set([...listed, ...env.workerIdsFromFiles()])) {
    const file = env.replicaFileOf(workerId);
    const isListed = listed.includes(workerId);
    if (!isListed) {
      const position = positionIfReadable(file);
      if (!position || position.appliedSeq < minSeq) {
        behind.push(`${workerId} at ${position?.appliedSeq ?? 'unreadable'}`);
        continue;
      }
      fromFiles += 1;
    }
    try {
      replicas.push(readReplicaFacts(file, writers));
    } catch (error) {
      // No file: a worker retired since ZooKeeper listed it (a scale-in, a slave moved) took it with it, or a new slave is still
      // copying into a file of another name. Either way nothing of it holds acknowledged writes to check.
      if (!existsSync(file)) behind.push(`${workerId} without a file (retired since it was listed, or still copying)`);
      else problems.push(`could not read the replica of ${workerId}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { replicas, notes: { problems, behind, fromFiles } };
}

/** Users and rides a gateway answered 201 for, missing from a replica. */
function gatewayAcknowledgedMissing(replicas: readonly ReplicaFacts[], routes: RouteStream): string[] {
  const missing: string[] = [];
  for (const replica of replicas) {
    // A dead worker's file may be pruned by the supervisor since the checker read it (a master runs): nothing left to look at.
    if (!existsSync(replica.file)) continue;
    let db: Database.Database;
    try {
      db = new Database(replica.file, { readonly: true, fileMustExist: true });
    } catch (error) {
      if (!existsSync(replica.file)) continue;
      throw error;
    }
    try {
      const user = db.prepare('SELECT 1 FROM users WHERE username = ?');
      const ride = db.prepare('SELECT 1 FROM rides WHERE ride_id = ?');
      const users = routes.ackedUsers.filter((name) => user.get(name) === undefined);
      const rides = routes.ackedRides.filter((id) => ride.get(id) === undefined);
      if (users.length > 0) missing.push(`${replica.workerId} lacks ${users.length} users acknowledged through a gateway (e.g. ${users.slice(0, 3).join(', ')})`);
      if (rides.length > 0) missing.push(`${replica.workerId} lacks ${rides.length} rides acknowledged through a gateway (e.g. ${rides.slice(0, 3).join(', ')})`);
    } finally {
      db.close();
    }
  }
  return missing;
}

/**
 * What the gateways the fault spared answered while it held. In the ha placement, after a lost,
 * frozen or cut-off host, every route must answer there from NOTICE_MS on; otherwise (seed: the lost
 * service's routes answer 503 until it is back) the answers are reported, not held to.
 */
function routesDuringFault(placement: string, kind: BedFaultName, during: readonly RouteAnswer[], appliedAt: number): { summary: string; violation?: string } {
  const failed = during.filter((answer) => answer.status < 200 || answer.status >= 300);
  const byStatus = new Map<string, number>();
  for (const answer of failed) {
    const what = `${answer.route} ${answer.status || 'no answer'} (${answer.error ?? '?'})`;
    byStatus.set(what, (byStatus.get(what) ?? 0) + 1);
  }
  const lastFailed = failed.reduce((latest, answer) => Math.max(latest, answer.at - appliedAt), -1);
  const times = during.map((answer) => answer.ms).sort((a, b) => a - b);
  const latency = times.length > 0 ? `, answered in ${times[Math.floor(times.length / 2)]} ms median, ${times.at(-1)} ms worst` : '';
  const summary = `${during.length} requests${latency}, ${failed.length} not answered 2xx${failed.length ? ` (${[...byStatus].map(([what, n]) => `${what} ×${n}`).join(', ')}; the last sent ${(lastFailed / 1000).toFixed(1)} s after the harm)` : ''}`;
  const late = failed.filter((answer) => answer.at - appliedAt >= NOTICE_MS);
  if (placement === 'ha' && ROUTES_MUST_ANSWER.includes(kind) && late.length > 0) {
    return {
      summary,
      violation: `ha placement: ${late.length} requests through the spared gateways unanswered ${NOTICE_MS / 1000} s or more after the harm (e.g. ${late
        .slice(0, 3)
        .map((answer) => `${answer.route} via ${answer.gateway} ${answer.status || 'no answer'} ${((answer.at - appliedAt) / 1000).toFixed(1)} s after the harm: ${answer.error ?? '?'}`)
        .join('; ')})`,
    };
  }
  return { summary };
}
