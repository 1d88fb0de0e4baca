/**
 * Faults of the orchestrators: the supervising one SIGKILLed while it launches a worker or runs a
 * failover (the process manager restarts it), or with its restart held so the standby must take over.
 */
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { call } from '../chaos/client.ts';
import { sleep } from '../../src/shared/timeout.ts';
import type { Injection, InjectionContext } from './kinds.ts';
import type { OrchestratorProcess } from './orchestrator-process.ts';
import { clusterProcesses } from './proc.ts';

export async function orchestratorKillDuringLaunch({ env, random, applied }: InjectionContext): Promise<Injection> {
  const supervisor = await env.supervisingOrAny();
  const before = new Set(clusterProcesses(env.cluster).map((proc) => proc.pid));
  const crash = await call('POST', `${supervisor.url}/api/v1/crash/slave`, undefined, 30_000);
  // The replacement is launched by the next reconcile pass: wait to see its process, then strike.
  const seenAt = Date.now();
  let launched: number | undefined;
  while (launched === undefined && Date.now() - seenAt < 5000) {
    launched = clusterProcesses(env.cluster).find((proc) => proc.kind === 'worker' && !before.has(proc.pid))?.pid;
    if (launched === undefined) await sleep(5);
  }
  const delayMs = random.int(0, 300);
  await sleep(delayMs);
  const killed = await supervisor.kill();
  applied();
  const registered = (await env.inspector.workers().catch(() => [])).find((worker) => worker.pid === launched);
  const state = registered ? `registered as ${registered.role}${registered.ready ? ', ready' : ', not ready'}` : 'not registered';
  return {
    detail:
      `crash/slave ${crash.status}; ` +
      (launched === undefined ? 'no launch seen within 5 s; ' : `launch of worker ${launched} seen after ${Date.now() - seenAt - delayMs} ms; `) +
      `SIGKILL orchestrator ${supervisor.name} (pid ${killed}) ${delayMs} ms later, while the new worker was ${state}`,
  };
}

export async function orchestratorKillDuringFailover({ env, random, applied }: InjectionContext): Promise<Injection> {
  const supervisor = await env.supervisingOrAny();
  const crash = await call('POST', `${supervisor.url}/api/v1/crash/master`, undefined, 30_000);
  const delayMs = random.int(0, 150);
  await sleep(delayMs);
  const killed = await supervisor.kill();
  applied();
  const roles = describe(await env.inspector.workers().catch(() => []));
  return { detail: `crash/master ${crash.status} ${JSON.stringify(crash.body)}; SIGKILL orchestrator ${supervisor.name} (pid ${killed}) ${delayMs} ms later; workers then: ${roles}` };
}

/** A standby must hold the lease well within this (the dead one's session is ZK_SESSION_TIMEOUT_MS). */
const TAKEOVER_BOUND_MS = 15_000;

export async function standbyTakeover({ env, applied }: InjectionContext): Promise<Injection> {
  const supervisor = await env.supervising();
  const standby = env.orchestrators.find((orchestrator) => orchestrator !== supervisor && orchestrator.isRunning);
  if (!supervisor || !standby) {
    applied();
    return { detail: `needs a supervising orchestrator and a running standby (supervisor ${supervisor?.name ?? 'unknown'})` };
  }
  // The killed one stays down until the standby holds the lease: the takeover must be the standby's.
  supervisor.holdRestarts();
  const killed = await supervisor.kill();
  applied();
  const since = Date.now();
  let holder: OrchestratorProcess | undefined;
  while (Date.now() - since < TAKEOVER_BOUND_MS) {
    holder = await env.supervising();
    if (holder === standby) break;
    await sleep(50);
  }
  supervisor.releaseRestarts();
  const took = holder === standby;
  const outcome = took
    ? `standby ${standby.name} holds the lease after ${Date.now() - since} ms`
    : `standby ${standby.name} (pid ${standby.pid}) did NOT take the lease within ${TAKEOVER_BOUND_MS} ms`;
  return {
    detail: `SIGKILL supervising orchestrator ${supervisor.name} (pid ${killed}); ${outcome}; ${supervisor.name} then restarted`,
    ...(took ? {} : { violation: `the standby orchestrator ${standby.name} (pid ${standby.pid}) did not take the supervisor lease within ${TAKEOVER_BOUND_MS} ms of the supervisor's SIGKILL` }),
  };
}

function describe(workers: WorkerInfo[]): string {
  return workers.map((worker) => `${worker.role} ${worker.pid}${worker.ready ? '' : ' (not ready)'}`).join(', ') || 'none registered';
}
