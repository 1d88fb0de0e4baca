/**
 * The timed steps of bench/failover.ts. Each starts from a whole cluster (1 master + the desired
 * slaves, ready, at one seq), so one round's recovery never leaks into the next one's figure.
 */
import Database from 'better-sqlite3';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { call } from '../../harness/chaos/client.ts';
import { sleep } from '../../src/shared/timeout.ts';
import { settle, type ClusterView } from '../../harness/chaos/settle.ts';
import { replicaFile } from '../../harness/chaos/replica-facts.ts';
import type { FailoverCluster } from './failover-cluster.ts';

export function viewOf(cluster: FailoverCluster): ClusterView {
  return { orchestratorUrl: cluster.orchestratorUrl, dataDir: cluster.dataDir, workers: () => cluster.orchestrator.workers() };
}

/** `minSeq` undefined: clients are writing, so only the membership must hold still. */
export async function whole(cluster: FailoverCluster, slaves: number, minSeq?: number): Promise<WorkerInfo[]> {
  const result = await settle(viewOf(cluster), { desiredSlaves: slaves, minSeq: minSeq ?? 0, sameSeq: minSeq !== undefined, timeoutMs: 90_000 });
  if (!result.settled) throw new Error(`the cluster did not become whole: ${result.failures.join('; ')}`);
  return result.workers;
}

export interface FailoverTiming {
  ms: number;
  killedPid: number;
  epochBefore: number;
  epochAfter: number;
  attempts: number;
  /** Writes acknowledged in the old epoch after the fault: the old master was still serving. */
  staleAnswers: number;
}

/**
 * From the fault to the first write the new master acknowledged. The probe is sent once the
 * fault has happened (the crash call answered, the signal sent) and retried with one request id;
 * only an answer from a later epoch counts, so the old master can never be the one timed.
 */
export async function firstWriteAfter(cluster: FailoverCluster, slaves: number, label: string, fault: (master: WorkerInfo) => Promise<void>): Promise<FailoverTiming> {
  const workers = await whole(cluster, slaves);
  const master = workers.find((worker) => worker.role === 'master') as WorkerInfo;
  const started = performance.now();
  await fault(master);
  let stale = 0;
  for (let attempts = 1; performance.now() - started < 60_000; attempts += 1) {
    // A new id after a stale answer: a retry of the same id would only repeat that answer.
    const requestId = `${label}-${stale}`;
    const body = { op: 'insert', table: 'users', values: { username: requestId, password: 'p'.repeat(40) }, requestId };
    const answer = await call<{ epoch: number }>('POST', `${cluster.orchestratorUrl}/api/v1/db/write`, body, 8000);
    if (answer.status === 200 && answer.body && answer.body.epoch > master.epoch) {
      return { ms: performance.now() - started, killedPid: master.pid, epochBefore: master.epoch, epochAfter: answer.body.epoch, attempts, staleAnswers: stale };
    }
    if (answer.status === 200) stale += 1;
    await sleep(10);
  }
  throw new Error(`${label}: no write acknowledged within 60 s of the fault`);
}

export interface ReplacementTiming {
  ms: number;
  killedPid: number;
  newPid: number;
  /** Rides in the replacement's own file once it serves: proof it was timed with the data. */
  ridesOnNew: number;
}

/** From crash/slave to a list of the same length without the victim, its successor ready. */
export async function replacementAfterCrashSlave(cluster: FailoverCluster, slaves: number, minSeq: number): Promise<ReplacementTiming> {
  const before = (await whole(cluster, slaves, minSeq)).map((worker) => worker.pid);
  const started = performance.now();
  const crashed = await call<number[]>('POST', `${cluster.orchestratorUrl}/api/v1/crash/slave`, undefined, 30_000);
  const killedPid = Array.isArray(crashed.body) ? crashed.body[0] : undefined;
  if (crashed.status !== 200 || killedPid === undefined) throw new Error(`crash/slave answered ${crashed.status} ${JSON.stringify(crashed.body)}`);
  while (performance.now() - started < 60_000) {
    const listed = await call<number[]>('GET', `${cluster.orchestratorUrl}/api/v1/worker/list`, undefined, 5000);
    const pids = Array.isArray(listed.body) ? listed.body : [];
    if (pids.length === before.length && !pids.includes(killedPid)) {
      const workers = await cluster.orchestrator.workers();
      const fresh = workers.find((worker) => !before.includes(worker.pid));
      if (fresh?.ready) return { ms: performance.now() - started, killedPid, newPid: fresh.pid, ridesOnNew: countRides(replicaFile(cluster.dataDir, fresh.workerId)) };
    }
    await sleep(20);
  }
  throw new Error('no ready replacement slave within 60 s of crash/slave');
}

/** Tops the rides table up to `target` rows with 1000-row inserts; answers the last write's seq. */
export async function fillRides(orchestratorUrl: string, target: number): Promise<number> {
  const user = await call('POST', `${orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'filler', password: 'f'.repeat(40) }, requestId: 'filler' }, 10_000);
  if (user.status !== 200) throw new Error(`creating the filler user failed: ${user.status} ${JSON.stringify(user.body)}`);
  let seq = 0;
  for (let stored = 0; stored < target; ) {
    const rows = Array.from({ length: Math.min(1000, target - stored) }, (_, i) => ({
      created_by: 'filler',
      timestamp: 1_700_000_000 + stored + i,
      source: 1 + (i % 198),
      destination: 1 + ((i + 7) % 198),
    }));
    const answer = await call<{ seq: number }>('POST', `${orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'rides', rows, requestId: `fill-${stored}` }, 30_000);
    if (answer.status !== 200 || !answer.body) throw new Error(`filling rides failed: ${answer.status} ${JSON.stringify(answer.body)}`);
    seq = answer.body.seq;
    stored += rows.length;
  }
  return seq;
}

function countRides(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM rides').get() as { n: number }).n;
  } finally {
    db.close();
  }
}
