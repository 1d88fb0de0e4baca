/**
 * Waits, with a deadline, for the cluster to be whole again after the faults: the HTTP worker
 * list and ZooKeeper agree on 1 master + the desired slaves, all ready, every replica file at
 * the same applied seq (at least the highest acknowledged one). The state must hold for two
 * looks in a row, so a worker about to be replaced is not taken for a healed cluster.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { call } from './client.ts';
import { sleep } from '../../src/shared/timeout.ts';
import { replicaFile } from './replica-facts.ts';

export interface ClusterView {
  orchestratorUrl: string;
  dataDir: string;
  /** Where a worker's SQLite file is, when not in dataDir (workers on several hosts, each keeping its files). */
  replicaFileOf?(workerId: string): string;
  /** ZooKeeper's view of the registered workers. */
  workers(): Promise<WorkerInfo[]>;
}

export interface SettleOptions {
  desiredSlaves: number;
  minSeq: number;
  timeoutMs: number;
  /** False while clients still write (a benchmark's rounds): seqs then never hold still. */
  sameSeq?: boolean;
}

export interface SettleResult {
  settled: boolean;
  waitedMs: number;
  workers: WorkerInfo[];
  failures: string[];
  description: string;
}

interface Look {
  problem?: string;
  workers: WorkerInfo[];
  pids: number[];
  seqs: Map<string, number>;
}

export async function settle(view: ClusterView, options: SettleOptions): Promise<SettleResult> {
  const started = Date.now();
  let previous: Look | undefined;
  let look: Look = { problem: 'not looked yet', workers: [], pids: [], seqs: new Map() };
  while (Date.now() - started < options.timeoutMs) {
    look = await lookAt(view, options);
    if (!look.problem && previous && !previous.problem && sameState(previous, look, options)) break;
    previous = look;
    await sleep(look.problem ? 200 : 1000);
  }
  const settled = !look.problem && previous !== undefined && !previous.problem && sameState(previous, look, options);
  const waitedMs = Date.now() - started;
  const roles = look.workers.map((w) => `${w.pid}:${w.role}${w.ready ? '' : '(not ready)'}@zk-seq ${w.appliedSeq}/file-seq ${look.seqs.get(w.workerId) ?? '?'} epoch ${w.epoch}`);
  const description = `${settled ? 'settled' : 'NOT settled'} after ${waitedMs} ms; worker/list ${JSON.stringify(look.pids)}; ZooKeeper ${roles.join(', ')}`;
  const failures = settled ? [] : [`cluster did not return to 1 master + ${options.desiredSlaves} ready slaves at one seq within ${options.timeoutMs} ms: ${look.problem ?? 'state kept changing'}`];
  return { settled, waitedMs, workers: look.workers, failures, description };
}

async function lookAt(view: ClusterView, options: SettleOptions): Promise<Look> {
  const listed = await call<number[]>('GET', `${view.orchestratorUrl}/api/v1/worker/list`, undefined, 5000);
  const pids = Array.isArray(listed.body) ? listed.body : [];
  let workers: WorkerInfo[] = [];
  try {
    workers = await view.workers();
  } catch (error) {
    return { problem: `ZooKeeper list failed: ${String(error)}`, workers, pids, seqs: new Map() };
  }
  const seqs = new Map(options.sameSeq === false ? [] : workers.map((worker) => [worker.workerId, fileSeq(view.replicaFileOf?.(worker.workerId) ?? replicaFile(view.dataDir, worker.workerId))]));
  const expected = 1 + options.desiredSlaves;
  const masters = workers.filter((worker) => worker.role === 'master').length;
  const zkPids = workers.map((worker) => worker.pid).sort((a, b) => a - b);
  const distinctSeqs = new Set(seqs.values());
  const [seq] = distinctSeqs;
  let problem: string | undefined;
  if (listed.status !== 200) problem = `worker/list answered ${listed.status} ${listed.error ?? ''}`;
  else if (pids.length !== expected) problem = `worker/list has ${pids.length} workers, want ${expected}`;
  else if (JSON.stringify(pids) !== JSON.stringify(zkPids)) problem = `worker/list ${JSON.stringify(pids)} ≠ ZooKeeper ${JSON.stringify(zkPids)}`;
  else if (masters !== 1) problem = `${masters} masters`;
  else if (workers.some((worker) => !worker.ready)) problem = 'a worker is not ready';
  else if (options.sameSeq !== false && (distinctSeqs.size !== 1 || seq === undefined || seq < options.minSeq))
    problem = `replica files at seqs ${JSON.stringify([...seqs.values()])}, want one seq ≥ ${options.minSeq}`;
  return { ...(problem ? { problem } : {}), workers, pids, seqs };
}

function sameState(a: Look, b: Look, options: SettleOptions): boolean {
  const seqs = (look: Look) => (options.sameSeq === false ? [] : [...look.seqs.values()].sort());
  const key = (look: Look) => JSON.stringify([look.pids, look.workers.map((w) => [w.workerId, w.role]).sort(), seqs(look)]);
  return key(a) === key(b);
}

/** -1 when the file is missing or unreadable (a worker still copying its snapshot, say). */
function fileSeq(file: string): number {
  if (!fs.existsSync(file)) return -1;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT applied_seq AS seq FROM replication_state').get() as { seq: number }).seq;
    } finally {
      db.close();
    }
  } catch {
    return -1;
  }
}
