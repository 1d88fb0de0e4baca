/**
 * One round of the fault-injection suite: clients write and read through every orchestrator
 * that is up while faults of the given kinds are injected one after another, each followed by
 * a wait until the cluster has healed by itself (one master, the desired ready slaves, a
 * supervising orchestrator, and a probe write acknowledged); then the faults stop, the cluster
 * must settle, and the history checker compares what clients were told with every replica.
 * Free of vitest, so bench/soak.ts runs the same rounds for as long as it is asked to.
 */
import fs from 'node:fs';
import { buildReport, type CheckReport } from '../chaos/checker.ts';
import { sleep } from '../../src/shared/timeout.ts';
import { Random } from '../chaos/prng.ts';
import { readReplicaFacts, replicaFile, type ReplicaFacts } from '../chaos/replica-facts.ts';
import { positionIfReadable } from '../../src/dbaas/replication/replica-file.ts';
import { clusterProcesses } from './proc.ts';
import { settle } from '../chaos/settle.ts';
import { Workload, type Ledger } from '../chaos/workload.ts';
import type { FaultEnvironment } from './environment.ts';
import { inject, sharesOneRequestId, type FaultName, type Injection } from './kinds.ts';
import { shuffled } from './shuffle.ts';
import { logExcerpt } from './logs.ts';

export interface RoundOptions {
  env: FaultEnvironment;
  kinds: readonly FaultName[];
  seed: number;
  /** Prefixes request ids and usernames: unique per round, so rounds on one cluster never collide. */
  label: string;
  /** How long faults keep coming; at least one is injected. */
  durationMs: number;
  /** Writes before the first fault's quiet time, ms (default 500); the checks do not depend on its length. */
  warmUpMs?: number;
  /** Quiet time before each fault, "min,max" ms. */
  gapMs?: [number, number];
  /** How long the cluster has to heal after a fault (after its hold, for faults that last). */
  healTimeoutMs?: number;
  settleTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface FaultRecord {
  kind: FaultName;
  /** Since the round's start. */
  atMs: number;
  detail: string;
  violation?: string;
  /** From injection to the first acknowledged probe write of a whole cluster. */
  healMs?: number;
  /** Why it did not heal in time: the last problem seen. */
  notHealed?: string;
}

export interface RoundResult {
  label: string;
  seed: number;
  kinds: readonly FaultName[];
  faults: FaultRecord[];
  report: CheckReport;
  ledger: Ledger;
  failures: string[];
  /** The cluster was not whole before the round and the harness started a new one. */
  resetBefore?: string;
  text: string;
}

const DEFAULT_HEAL_TIMEOUT_MS = 30_000;

export async function runRound(options: RoundOptions): Promise<RoundResult> {
  const { env } = options;
  const log = options.log ?? (() => undefined);
  const healTimeoutMs = options.healTimeoutMs ?? DEFAULT_HEAL_TIMEOUT_MS;
  const roundStart = Date.now();
  const unwell = await env.waitWhole(healTimeoutMs);
  if (unwell) await env.resetCluster(`the cluster was not whole before round ${options.label}: ${unwell}`);
  const random = new Random(options.seed);
  const faultRandom = random.fork('faults');
  const rpc = env.options.rpcTimeoutMs;
  const workload = new Workload({
    orchestratorUrl: env.liveOrchestratorUrls()[0] as string,
    orchestratorUrls: () => env.liveOrchestratorUrls(),
    random: random.fork('workload'),
    // w0–w3 retry (w1 and w3 with impatient attempts, so duplicates reach the service); w4 gives up.
    writers: 5,
    giveUpWriters: 1,
    readers: 1,
    ownReads: 0.3,
    probeWriter: true,
    tag: options.label,
    pauseMs: 10,
    impatientAttemptMs: 1000,
    // Above the RPC deadline, so the orchestrator's 503 arrives before the client gives up.
    attemptTimeoutMs: rpc + 3000,
    ...(sharesOneRequestId(options.kinds) ? { sharedRequestId: `${options.label}-shared` } : {}),
  });
  await workload.start();
  await sleep(options.warmUpMs ?? 500);

  const faults: FaultRecord[] = [];
  const failures: string[] = [];
  let bag: FaultName[] = [];
  const phaseStart = Date.now();
  do {
    await sleep(faultRandom.int(...(options.gapMs ?? [300, 800])));
    const before = await env.waitWhole(healTimeoutMs);
    if (before) {
      failures.push(`the cluster was not whole ${healTimeoutMs} ms after the last fault, so no further fault was injected: ${before}`);
      break;
    }
    if (bag.length === 0) bag = shuffled(options.kinds, faultRandom);
    const kind = bag.pop() as FaultName;
    const record = await injectAndHeal(kind, options, faultRandom.fork(`fault-${faults.length}`), workload, healTimeoutMs);
    record.atMs -= roundStart;
    faults.push(record);
    const outcome = record.healMs !== undefined ? `healed in ${record.healMs} ms` : `NOT healed: ${record.notHealed}`;
    log(`[${options.label} +${(record.atMs / 1000).toFixed(1)}s] ${kind}: ${record.detail} → ${outcome}`);
    if (record.violation) failures.push(`${kind} at +${(record.atMs / 1000).toFixed(1)}s: ${record.violation}`);
    if (record.notHealed !== undefined) {
      failures.push(`${kind} at +${(record.atMs / 1000).toFixed(1)}s did not heal within ${healTimeoutMs} ms: ${record.notHealed}`);
      break;
    }
  } while (Date.now() - phaseStart < options.durationMs);

  const ledger = await workload.stop();
  const probe = await workload.probe();
  const minSeq = Math.max(0, ...ledger.acked.map((write) => write.seq));
  const settled = await settle(env.view(), { desiredSlaves: env.desiredSlaves, minSeq, timeoutMs: options.settleTimeoutMs ?? 30_000 });
  if (!('seq' in probe)) settled.failures.push(`the probe write after the faults was not acknowledged: ${probe.lastStatus} ${probe.lastError}`);
  const replicas = settled.workers.flatMap((worker) => {
    try {
      return [readReplicaFacts(replicaFile(env.dataDir, worker.workerId), ledger.writers)];
    } catch (error) {
      settled.failures.push(`could not read the replica of ${worker.workerId} (pid ${worker.pid}): ${String(error)}`);
      return [];
    }
  });
  replicas.push(...unlistedReplicas(env, new Set(settled.workers.map((worker) => worker.workerId)), minSeq, ledger.writers));
  const title = `faults ${options.label} (seed ${options.seed}): ${faults.map((fault) => fault.kind).join(', ') || 'none'}`;
  const report = buildReport(title, settled, replicas, ledger);
  failures.push(...report.failures);
  // docs/database-api.md promises a coded 4xx or a 503 for every failure; a 500 is an unhandled error.
  const internal = (ledger.writeStatuses['500'] ?? 0) + (ledger.readStatuses['500'] ?? 0);
  if (internal > 0) failures.push(`the orchestrator answered 500 (an unhandled error, not the 503 the API promises) ${internal} times`);
  const samples = Object.entries(ledger.samples).map(([key, bodies]) => `  ${key}: ${bodies.join(' | ').slice(0, 500)}`);
  const verdict = failures.length === 0 ? 'PASS' : 'FAIL';
  const lines = [
    // The checker's own verdict covers the replicas; the round's covers the heals and the answers too.
    report.text.replace(/\nFAILURES:[\s\S]*$/, '').replace(/: (PASS|FAIL) ===/, `: ${verdict} ===`),
    ...(samples.length > 0 ? ['answers other than 200 (first few of each):', ...samples] : []),
    'faults:',
    ...faults.map(
      (fault) => `  +${(fault.atMs / 1000).toFixed(1)}s ${fault.kind}: ${fault.detail} → ${fault.healMs !== undefined ? `healed in ${fault.healMs} ms` : `NOT healed (${fault.notHealed})`}`,
    ),
    ...(unwell ? [`harness reset before the round: ${unwell}`] : []),
    ...unexpectedExits(env, roundStart),
  ];
  if (failures.length > 0) {
    lines.push('FAILURES:', ...failures.map((line) => `  ${line}`));
    lines.push(...diagnosis(env, roundStart));
  }
  return { label: options.label, seed: options.seed, kinds: options.kinds, faults, report, ledger, failures, ...(unwell ? { resetBefore: unwell } : {}), text: lines.join('\n') };
}

/**
 * Injects one fault and measures its heal, from injection until the cluster is whole and
 * acknowledges a probe write. Faults that last (a frozen process, a slow link) are watched while
 * they last: a cluster that heals around a frozen worker heals then, provided it is still whole
 * when the fault ends (thaw, restart, link back); if it is not, the heal is when it is whole again.
 */
async function injectAndHeal(kind: FaultName, options: RoundOptions, random: Random, workload: Workload, healTimeoutMs: number): Promise<FaultRecord> {
  const { env } = options;
  const injectedAt = Date.now();
  let markApplied: () => void = () => undefined;
  const applied = new Promise<void>((resolve) => (markApplied = resolve));
  let faultEnded = false;
  const injection = inject(kind, { env, random, applied: markApplied })
    .catch((error: unknown): Injection => ({ detail: `injection failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}` }))
    .finally(() => {
      faultEnded = true;
      markApplied();
    });
  await applied;
  const during = await watchWhileFaultLasts(env, workload, () => faultEnded);
  const { detail, violation } = await injection;
  const until = Date.now() + healTimeoutMs;
  const after = await waitHealed(env, workload, () => until);
  const record: FaultRecord = { kind, atMs: injectedAt, detail, ...(violation ? { violation } : {}) };
  if (after.healedAt === undefined) record.notHealed = after.lastProblem;
  // Whole since some moment of the fault and still whole when it ended: healed at that moment.
  else record.healMs = (during.wholeSince !== undefined && after.looks === 1 && after.pids === during.pids ? during.wholeSince : after.healedAt) - injectedAt;
  return record;
}

/** How often a whole cluster is asked for a probe write while a fault lasts. */
const PROBE_EVERY_MS = 1000;

/**
 * While a fault lasts (a frozen process, a slow or silent link), the cluster may heal around it,
 * and may break again before the fault ends (a heartbeat that finally closes a silent link).
 * Returns since when it has been whole, with acknowledged probes and the same workers, up to
 * the fault's end; undefined if it was not whole at the end.
 */
async function watchWhileFaultLasts(env: FaultEnvironment, workload: Workload, ended: () => boolean): Promise<{ wholeSince?: number; pids?: string }> {
  let wholeSince: number | undefined;
  let workersThen = '';
  let probedAt = 0;
  while (!ended()) {
    const { problem, workers } = await env.wholeness();
    const now = pidsOf(workers);
    if (problem || (wholeSince !== undefined && now !== workersThen)) {
      wholeSince = undefined;
    } else if (wholeSince === undefined || Date.now() - probedAt >= PROBE_EVERY_MS) {
      const probe = await workload.probe({ attemptTimeoutMs: env.options.rpcTimeoutMs + 2000, maxAttempts: 1 });
      probedAt = Date.now();
      if (!('seq' in probe)) wholeSince = undefined;
      else if (wholeSince === undefined) [wholeSince, workersThen] = [probedAt, now];
    }
    await sleep(100);
  }
  return wholeSince === undefined ? {} : { wholeSince, pids: workersThen };
}

function pidsOf(workers: { pid: number }[]): string {
  return workers
    .map((worker) => worker.pid)
    .sort((a, b) => a - b)
    .join(',');
}

interface HealWait {
  healedAt?: number;
  lastProblem: string;
  looks: number;
  /** The workers of the healed cluster. */
  pids?: string;
}

/** How long a healed cluster must stay as it was for the heal to count. */
const CONFIRM_MS = 600;

/**
 * Waits for a whole cluster whose probe write is acknowledged, and which is still whole with the
 * same workers a second later: a worker whose death is only about to be noticed (a broker
 * connection that a heartbeat is about to close) must not pass for a healed cluster.
 */
async function waitHealed(env: FaultEnvironment, workload: Workload, deadline: () => number): Promise<HealWait> {
  let lastProblem = 'not looked yet';
  for (let looks = 1; Date.now() < deadline(); looks += 1) {
    const { problem, workers } = await env.wholeness();
    if (!problem) {
      // One attempt, no retry: the first probe acknowledged by a whole cluster ends the outage.
      const probe = await workload.probe({ attemptTimeoutMs: env.options.rpcTimeoutMs + 2000, maxAttempts: 1 });
      if ('seq' in probe) {
        const healedAt = Date.now();
        await sleep(CONFIRM_MS);
        const again = await env.wholeness();
        if (!again.problem && pidsOf(again.workers) === pidsOf(workers)) return { healedAt, lastProblem: '', looks, pids: pidsOf(workers) };
        lastProblem = `whole and acknowledging, but not ${CONFIRM_MS} ms later: ${again.problem ?? 'other workers'}`;
      } else {
        lastProblem = `the cluster looks whole but the probe write got ${probe.lastStatus} ${probe.lastError}`;
      }
    } else {
      lastProblem = problem;
    }
    await sleep(100);
  }
  return { lastProblem, looks: 0 };
}

/** Servers and orchestrators that exited by themselves (the process manager restarted the orchestrators). */
function unexpectedExits(env: FaultEnvironment, since: number): string[] {
  const at = (time: number) => `+${((time - since) / 1000).toFixed(1)}s`;
  const serverExits = [env.rabbit, env.zk].flatMap((server) =>
    server.exits.filter((exit) => exit.at >= since && exit.unexpected).map((exit) => `${server.name} pid ${exit.pid} exited by itself (${exit.how}) at ${at(exit.at)}`),
  );
  const orchestratorExits = env.orchestrators.flatMap((orchestrator) =>
    orchestrator.exits
      .filter((exit) => exit.at >= since && !exit.killed)
      .map((exit) => `orchestrator ${orchestrator.name} pid ${exit.pid} exited by itself (${exit.how}) at ${at(exit.at)}; restarted by the process manager`),
  );
  const all = [...serverExits, ...orchestratorExits];
  return all.length > 0 ? ['exits the harness did not cause:', ...all.map((line) => `  ${line}`)] : [];
}

/** What the processes said while the round ran. */
function diagnosis(env: FaultEnvironment, since: number): string[] {
  return [`log lines of the round (times from its start; data in ${env.dataDir}):`, logExcerpt(env.dataDir, since, Date.now())];
}

/**
 * Replicas ZooKeeper does not list, found from the other side: a live worker process of the
 * cluster whose file in the data folder claims every acknowledged write (a copy still being made
 * does not) must hold them like any listed replica.
 */
function unlistedReplicas(env: FaultEnvironment, listed: ReadonlySet<string>, minSeq: number, writers: readonly string[]): ReplicaFacts[] {
  return clusterProcesses(env.cluster).flatMap((proc) => {
    if (proc.kind !== 'worker' || proc.workerId === undefined || listed.has(proc.workerId)) return [];
    const file = replicaFile(env.dataDir, proc.workerId);
    const position = fs.existsSync(file) ? positionIfReadable(file) : undefined;
    if (!position || position.appliedSeq < minSeq) return [];
    try {
      return [readReplicaFacts(file, writers)];
    } catch {
      return [];
    }
  });
}
