/**
 * Injects faults in a seeded random order: the crash APIs, a SIGKILL from outside on any worker,
 * and a SIGSTOP of the master held past the ZooKeeper session timeout (a frozen master that must
 * be fenced, not a dead one). Before each fault it waits for a master and a ready slave, so a
 * run tests failover rather than the loss of the last copy of the data, which no design survives.
 */
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { call } from './client.ts';
import { sleep } from '../../src/shared/timeout.ts';
import type { Random } from './prng.ts';
import type { ClusterView } from './settle.ts';

export type FaultKind = 'crash-master' | 'crash-slave' | 'kill-worker' | 'stop-master' | 'kill-all';

/** Every worker killed within milliseconds is recovered from the files, so it is one of the faults. */
export const ALL_FAULTS: readonly FaultKind[] = ['crash-master', 'crash-slave', 'kill-worker', 'stop-master', 'kill-all'];

export interface FaultRecord {
  atMs: number;
  kind: FaultKind;
  pid?: number;
  outcome: string;
}

export interface FaultOptions {
  view: ClusterView;
  random: Random;
  durationMs: number;
  /** Stop after this many faults rather than after durationMs: a fixed amount of harm, however slow the machine heals. */
  count?: number;
  gapMs: [number, number];
  sessionTimeoutMs: number;
  kinds?: readonly FaultKind[];
  /** How long to wait for a master and a ready slave before a fault; longer is a failure. */
  healthyWithinMs?: number;
  log?: (line: string) => void;
}

export interface FaultRun {
  records: FaultRecord[];
  /** Times the cluster had no master + ready slave in time for the next fault. */
  unhealthy: string[];
}

export async function injectFaults(options: FaultOptions): Promise<FaultRun> {
  const started = Date.now();
  const run: FaultRun = { records: [], unhealthy: [] };
  const kinds = options.kinds ?? ALL_FAULTS;
  // A shuffled bag rather than independent draws: random order, yet every kind in every round.
  let bag: FaultKind[] = [];
  const more = () => (options.count !== undefined ? run.records.length < options.count : Date.now() - started < options.durationMs);
  while (more()) {
    await sleep(options.random.int(options.gapMs[0], options.gapMs[1]));
    const workers = await waitForMasterAndSlave(options.view, options.healthyWithinMs ?? 30_000);
    if (!workers) {
      run.unhealthy.push(`at ${Date.now() - started} ms: no master with a ready slave for ${options.healthyWithinMs ?? 30_000} ms`);
      continue;
    }
    if (bag.length === 0) bag = shuffled(kinds, options.random);
    const kind = bag.pop() as FaultKind;
    const record = await inject(kind, workers, options);
    record.atMs = Date.now() - started;
    run.records.push(record);
    options.log?.(`[chaos +${(record.atMs / 1000).toFixed(1)}s] ${record.kind}${record.pid ? ` pid ${record.pid}` : ''}: ${record.outcome}`);
  }
  return run;
}

async function inject(kind: FaultKind, workers: WorkerInfo[], options: FaultOptions): Promise<FaultRecord> {
  const base = options.view.orchestratorUrl;
  switch (kind) {
    case 'crash-master':
    case 'crash-slave': {
      const outcome = await call<number[]>('POST', `${base}/api/v1/crash/${kind === 'crash-master' ? 'master' : 'slave'}`, undefined, 30_000);
      const pid = Array.isArray(outcome.body) ? outcome.body[0] : undefined;
      return { atMs: 0, kind, ...(pid ? { pid } : {}), outcome: `${outcome.status} ${outcome.error ?? JSON.stringify(outcome.body)}` };
    }
    case 'kill-worker': {
      // Master first, then slaves by pid: the seed picks a role and a rank, not an arbitrary pid.
      const ranked = [...workers].sort((a, b) => (a.role === b.role ? a.pid - b.pid : a.role === 'master' ? -1 : 1));
      const target = options.random.pick(ranked);
      return { atMs: 0, kind, pid: target.pid, outcome: `${target.role} ${signal(target.pid, 'SIGKILL')}` };
    }
    case 'kill-all':
      return { atMs: 0, kind, outcome: workers.map((worker) => `${worker.role} ${worker.pid} ${signal(worker.pid, 'SIGKILL')}`).join(', ') };
    case 'stop-master': {
      const master = workers.find((worker) => worker.role === 'master');
      if (!master) return { atMs: 0, kind, outcome: 'no master to stop' };
      const stopped = signal(master.pid, 'SIGSTOP');
      // Past the session timeout: ZooKeeper expires the session and a successor must be chosen.
      const heldMs = options.sessionTimeoutMs * 2 + options.random.int(0, options.sessionTimeoutMs);
      await sleep(heldMs);
      // The supervisor may have killed it meanwhile (kill before promote): ESRCH is expected.
      return { atMs: 0, kind, pid: master.pid, outcome: `${stopped}, held ${heldMs} ms, SIGCONT ${signal(master.pid, 'SIGCONT')}` };
    }
  }
}

function shuffled<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = random.int(0, i);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

function signal(pid: number, name: NodeJS.Signals): string {
  try {
    process.kill(pid, name);
    return 'sent';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH' ? 'already gone' : String(error);
  }
}

async function waitForMasterAndSlave(view: ClusterView, withinMs: number): Promise<WorkerInfo[] | undefined> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const workers = await view.workers().catch(() => []);
    const master = workers.some((worker) => worker.role === 'master' && worker.ready);
    if (master && workers.some((worker) => worker.role === 'slave' && worker.ready)) return workers;
    await sleep(100);
  }
  return undefined;
}
