/**
 * One chaos run from a seed: clients write and read while faults happen, then the faults stop,
 * one probe write must be acknowledged, the cluster must settle, and the checker compares the
 * ledger with every replica. Free of vitest, so the benchmark can run it as well.
 */
import { buildReport, type CheckReport } from './checker.ts';
import { injectFaults, type FaultKind, type FaultRun } from './faults.ts';
import { Random } from './prng.ts';
import { readReplicaFacts, replicaFile } from './replica-facts.ts';
import { settle, type ClusterView } from './settle.ts';
import { Workload, type Ledger } from './workload.ts';
import { sleep } from '../../src/shared/timeout.ts';

export interface ScenarioOptions {
  view: ClusterView;
  seed: number;
  desiredSlaves: number;
  durationMs: number;
  /** With faults: stop after this many instead of after durationMs. */
  faultCount?: number;
  /** Without faults the run only checks the workload and the checker themselves. */
  faults: boolean;
  kinds?: readonly FaultKind[];
  gapMs?: [number, number];
  sessionTimeoutMs?: number;
  writers?: number;
  readers?: number;
  settleTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ScenarioResult {
  report: CheckReport;
  ledger: Ledger;
  faults: FaultRun;
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const random = new Random(options.seed);
  const workloadRandom = random.fork('workload');
  const faultRandom = random.fork('faults');
  const workload = new Workload({
    orchestratorUrl: options.view.orchestratorUrl,
    random: workloadRandom,
    writers: options.writers ?? 4,
    readers: options.readers ?? 2,
    tag: `chaos${options.seed}`,
    pauseMs: 10,
    impatientAttemptMs: 300,
  });
  await workload.start();
  const faults: FaultRun = options.faults
    ? await injectFaults({
        view: options.view,
        random: faultRandom,
        durationMs: options.durationMs,
        ...(options.faultCount !== undefined ? { count: options.faultCount } : {}),
        gapMs: options.gapMs ?? [1500, 4000],
        sessionTimeoutMs: options.sessionTimeoutMs ?? 1000,
        ...(options.kinds ? { kinds: options.kinds } : {}),
        ...(options.log ? { log: options.log } : {}),
      })
    : await sleep(options.durationMs).then(() => ({ records: [], unhealthy: [] }));
  const ledger = await workload.stop();
  const probe = await workload.probe();
  const minSeq = Math.max(0, ...ledger.acked.map((write) => write.seq));
  const settled = await settle(options.view, { desiredSlaves: options.desiredSlaves, minSeq, timeoutMs: options.settleTimeoutMs ?? 60_000 });
  if (!('seq' in probe)) settled.failures.push(`the probe write after the faults was not acknowledged: ${probe.lastStatus} ${probe.lastError}`);
  settled.failures.push(...faults.unhealthy.map((line) => `between faults, ${line}`));
  const replicas = settled.workers.flatMap((worker) => {
    try {
      return [readReplicaFacts(replicaFile(options.view.dataDir, worker.workerId), ledger.writers)];
    } catch (error) {
      settled.failures.push(`could not read the replica of ${worker.workerId} (pid ${worker.pid}): ${String(error)}`);
      return [];
    }
  });
  const title = `chaos seed ${options.seed}, ${faults.records.length} faults (${describeFaults(faults)})`;
  return { report: buildReport(title, settled, replicas, ledger), ledger, faults };
}

function describeFaults(run: FaultRun): string {
  const counts = new Map<string, number>();
  for (const record of run.records) counts.set(record.kind, (counts.get(record.kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${kind} ×${n}`).join(', ') || 'none';
}
