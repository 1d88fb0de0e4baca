/**
 * Faults of the workers: the crash APIs, an outside SIGKILL of one worker or of all of them a
 * few ms apart, a master frozen past its session, and a promotion candidate frozen while the
 * master dies.
 */
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { call } from '../chaos/client.ts';
import { sleep } from '../../src/shared/timeout.ts';
import type { Injection, InjectionContext } from './kinds.ts';
import { shuffled } from './shuffle.ts';
import { clusterProcesses, signal } from './proc.ts';

export async function crashCall({ env, applied }: InjectionContext, which: 'master' | 'slave'): Promise<Injection> {
  const supervisor = await env.supervisingOrAny();
  const outcome = await call<number[]>('POST', `${supervisor.url}/api/v1/crash/${which}`, undefined, 30_000);
  applied();
  return { detail: `crash/${which} to orchestrator ${supervisor.name}: ${outcome.status} ${outcome.error ?? JSON.stringify(outcome.body)}` };
}

export async function killWorker({ env, random, applied }: InjectionContext): Promise<Injection> {
  // Master first, then slaves by pid: the seed picks a role and a rank, not an arbitrary pid.
  const ranked = ranks(await env.inspector.workers());
  const target = ranked.length > 0 ? random.pick(ranked) : undefined;
  if (!target) {
    applied();
    return { detail: 'no registered worker to kill' };
  }
  const outcome = signal(target.pid, 'SIGKILL');
  applied();
  return { detail: `SIGKILL ${target.role} ${target.pid}: ${outcome}` };
}

export async function stopMaster({ env, random, applied }: InjectionContext): Promise<Injection> {
  const master = (await env.inspector.workers()).find((worker) => worker.role === 'master');
  if (!master) {
    applied();
    return { detail: 'no master to stop' };
  }
  const stopped = signal(master.pid, 'SIGSTOP');
  applied();
  // Past the session timeout: ZooKeeper expires the session and a successor must be chosen.
  const session = env.options.sessionTimeoutMs;
  const heldMs = session * 2 + random.int(0, session);
  await sleep(heldMs);
  return { detail: `SIGSTOP master ${master.pid} ${stopped}, held ${heldMs} ms, SIGCONT ${signal(master.pid, 'SIGCONT')}` };
}

export async function killAllWorkers({ env, random, applied }: InjectionContext): Promise<Injection> {
  // Every worker process of the cluster, registered or not: the machine-wide crash.
  const victims = shuffled(
    clusterProcesses(env.cluster).filter((proc) => proc.kind === 'worker'),
    random,
  );
  const roles = new Map((await env.inspector.workers().catch(() => [])).map((worker) => [worker.pid, worker.role]));
  const steps: string[] = [];
  for (const [index, victim] of victims.entries()) {
    if (index > 0) {
      const gap = random.int(1, 10);
      await sleep(gap);
      steps.push(`+${gap} ms`);
    }
    steps.push(`${roles.get(victim.pid) ?? 'unregistered'} ${victim.pid} ${signal(victim.pid, 'SIGKILL')}`);
  }
  applied();
  return { detail: `SIGKILL of ${victims.length} workers a few ms apart: ${steps.join(', ')}` };
}

export async function frozenCandidate({ env, random, applied }: InjectionContext): Promise<Injection> {
  const workers = await env.inspector.workers();
  const master = workers.find((worker) => worker.role === 'master');
  const candidate = workers.filter((worker) => worker.role === 'slave' && worker.ready).sort((a, b) => a.pid - b.pid)[0];
  if (!master || !candidate) {
    applied();
    return { detail: `no master and ready slave to work with (${workers.length} workers)` };
  }
  const frozen = signal(candidate.pid, 'SIGSTOP');
  let how: string;
  if (random.next() < 0.5) {
    const supervisor = await env.supervisingOrAny();
    const outcome = await call('POST', `${supervisor.url}/api/v1/crash/master`, undefined, 30_000);
    how = `crash/master ${outcome.status} ${outcome.error ?? JSON.stringify(outcome.body)}`;
  } else {
    how = `SIGKILL master ${master.pid} ${signal(master.pid, 'SIGKILL')}`;
  }
  applied();
  const heldMs = random.int(3000, 6000);
  await sleep(heldMs);
  // It may have been killed meanwhile (its session expired): "already gone" is a fine outcome.
  return { detail: `SIGSTOP candidate slave ${candidate.pid} ${frozen}; ${how}; held ${heldMs} ms, SIGCONT ${signal(candidate.pid, 'SIGCONT')}` };
}

function ranks(workers: WorkerInfo[]): WorkerInfo[] {
  return [...workers].sort((a, b) => (a.role === b.role ? a.pid - b.pid : a.role === 'master' ? -1 : 1));
}
