/**
 * `npx tsx bench/failover.ts`: the failover figures of issue 4, medians of `--rounds` (default 5):
 * crash/master → first acknowledged write; outside SIGKILL of the master → first acknowledged
 * write (and a SIGSTOP-frozen master, the case the session timeout is for); crash/slave →
 * replacement serving with 100,000 rides stored; and acknowledged writes lost, counted by the
 * chaos checker over clients that wrote through every one of those faults.
 * Options: `--rounds N`, `--session-timeout MS` (default 4000, the product's default), `--rides N`.
 */
import { buildReport } from '../harness/chaos/checker.ts';
import { Random } from '../harness/chaos/prng.ts';
import { readReplicaFacts, replicaFile } from '../harness/chaos/replica-facts.ts';
import { settle } from '../harness/chaos/settle.ts';
import { Workload } from '../harness/chaos/workload.ts';
import { startFailoverCluster } from './lib/failover-cluster.ts';
import { fillRides, firstWriteAfter, replacementAfterCrashSlave, viewOf, type FailoverTiming } from './lib/failover-probes.ts';
import { median } from './lib/load.ts';
import { call } from '../harness/chaos/client.ts';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

const rounds = option('rounds', 5);
const sessionTimeoutMs = option('session-timeout', 4000);
const rideCount = option('rides', 100_000);
const slaves = 2;

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const log = (line: string) => process.stdout.write(`${line}\n`);

function describeRuns(label: string, timings: { ms: number }[], target: string): string {
  return `${label}: median ${seconds(median(timings.map((t) => t.ms)))} over ${timings.length} runs [${timings.map((t) => seconds(t.ms)).join(', ')}] (target ${target})`;
}

/** The supervisor has normally killed the frozen master already (kill before promote). */
function resume(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // Gone: expected.
  }
}

async function main(): Promise<void> {
  const cluster = await startFailoverCluster({ slaves, sessionTimeoutMs });
  // Workers run in process groups of their own: an interrupted bench must still stop them.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cluster.stop().finally(() => process.exit(130)));
  }
  try {
    const view = viewOf(cluster);
    // Clients keep writing through every failover: what they were told is what must survive.
    const workload = new Workload({ orchestratorUrl: cluster.orchestratorUrl, random: new Random(4), writers: 2, readers: 1, tag: 'bench', pauseMs: 20 });
    await workload.start();

    const viaApi: FailoverTiming[] = [];
    for (let round = 0; round < rounds; round += 1) {
      viaApi.push(
        await firstWriteAfter(cluster, slaves, `api-${round}`, async () => {
          const answer = await call('POST', `${cluster.orchestratorUrl}/api/v1/crash/master`, undefined, 30_000);
          if (answer.status !== 200) throw new Error(`crash/master answered ${answer.status} ${JSON.stringify(answer.body)}`);
        }),
      );
      log(`  crash/master round ${round + 1}: ${seconds(viaApi.at(-1)!.ms)}`);
    }
    const viaSignal: FailoverTiming[] = [];
    for (let round = 0; round < rounds; round += 1) {
      viaSignal.push(
        await firstWriteAfter(cluster, slaves, `sigkill-${round}`, async (master) => {
          process.kill(master.pid, 'SIGKILL');
        }),
      );
      log(`  SIGKILL round ${round + 1}: ${seconds(viaSignal.at(-1)!.ms)}`);
    }

    // Not asked for, but the case the session timeout is for: a frozen master, not a dead one.
    const viaFreeze: FailoverTiming[] = [];
    for (let round = 0; round < rounds; round += 1) {
      let frozen = 0;
      viaFreeze.push(
        await firstWriteAfter(cluster, slaves, `sigstop-${round}`, async (master) => {
          frozen = master.pid;
          process.kill(master.pid, 'SIGSTOP');
        }),
      );
      resume(frozen);
      log(`  SIGSTOP round ${round + 1}: ${seconds(viaFreeze.at(-1)!.ms)}`);
    }

    const ledger = await workload.stop();
    await workload.probe();
    const minSeq = Math.max(0, ...ledger.acked.map((write) => write.seq));
    const settled = await settle(view, { desiredSlaves: slaves, minSeq, timeoutMs: 90_000 });
    const replicas = settled.workers.map((worker) => readReplicaFacts(replicaFile(cluster.dataDir, worker.workerId), ledger.writers));
    const report = buildReport('writes through the failovers above', settled, replicas, ledger);
    const lost = ledger.acked.filter((write) => replicas.some((replica) => (replica.rides.get(write.marker)?.length ?? 0) === 0)).length;
    log(report.text);

    const lastSeq = await fillRides(cluster.orchestratorUrl, rideCount);
    const replacements = [];
    for (let round = 0; round < rounds; round += 1) {
      const timing = await replacementAfterCrashSlave(cluster, slaves, lastSeq);
      replacements.push(timing);
      log(`  crash/slave round ${round + 1}: pid ${timing.killedPid} → ${timing.newPid} serving after ${seconds(timing.ms)} with ${timing.ridesOnNew} rides in its file`);
    }
    const stale = [...viaApi, ...viaSignal, ...viaFreeze].reduce((sum, timing) => sum + timing.staleAnswers, 0);

    log('');
    log(`## Failover (${new Date().toISOString()}; 1 master + ${slaves} slaves; ZooKeeper session timeout ${sessionTimeoutMs} ms, tick 200 ms)`);
    log(describeRuns('crash/master → first acknowledged write', viaApi, '< 1 s'));
    log(describeRuns('outside SIGKILL of the master → first acknowledged write', viaSignal, `< session timeout + 1 s = ${seconds(sessionTimeoutMs + 1000)}`));
    log(describeRuns('outside SIGSTOP of the master (frozen, found by session expiry) → first acknowledged write', viaFreeze, `< session timeout + 1 s = ${seconds(sessionTimeoutMs + 1000)}`));
    log(describeRuns(`crash/slave → replacement slave serving, ${rideCount} rides stored`, replacements, '< 5 s'));
    log(`acknowledged writes lost: ${lost} of ${ledger.acked.length} acknowledged through ${rounds * 3} master failovers (must be 0; checker ${report.ok ? 'PASS' : 'FAIL'})`);
    if (stale > 0) log(`WARNING: ${stale} writes were acknowledged in the old epoch after the master was crashed`);
    if (!report.ok || lost > 0) process.exitCode = 1;
  } finally {
    await cluster.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`failover bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
