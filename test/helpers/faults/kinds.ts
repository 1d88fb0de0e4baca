/**
 * The fault kinds of the fault-injection suite, each an injector: it does the harm, calls
 * `applied()` the moment the harm is done (the heal clock's reference point for "the cluster may
 * now look whole again"), undoes what a real-world fault would undo by itself (a frozen process
 * thaws, a restarted server comes back, a slow link recovers), and describes what it did. Every
 * choice (target, delay, hold) comes from the seeded random stream, so a run replays from its seed.
 */
import type { WorkerInfo } from '../../../src/dbaas/protocol/names.ts';
import { call, sleep } from '../chaos/client.ts';
import type { Random } from '../chaos/prng.ts';
import type { FaultEnvironment } from './environment.ts';
import type { OrchestratorProcess } from './orchestrator-process.ts';
import { clusterProcesses, connectionPorts, signal } from './proc.ts';
import type { Direction } from './tcp-proxy.ts';

export const FAULT_KINDS = [
  // The four faults of test/chaos.
  'crash-master',
  'crash-slave',
  'kill-worker',
  'stop-master',
  // Workers.
  'kill-all-workers',
  'frozen-candidate',
  // The broker and ZooKeeper.
  'rabbitmq-kill',
  'zookeeper-stop-short',
  'zookeeper-stop-long',
  'zookeeper-restart',
  // Orchestrators.
  'orchestrator-kill-launch',
  'orchestrator-kill-failover',
  'standby-takeover',
  // One worker's link to the broker, through the proxy.
  'link-slow',
  'link-cut',
  'link-blackhole',
] as const;

export type FaultName = (typeof FAULT_KINDS)[number];

/** What each kind does, for test names and the soak's help. */
export const DESCRIPTIONS: Record<FaultName, string> = {
  'crash-master': 'POST crash/master',
  'crash-slave': 'POST crash/slave',
  'kill-worker': 'SIGKILL of one worker from outside',
  'stop-master': 'SIGSTOP of the master past the session timeout',
  'kill-all-workers': 'SIGKILL of every worker, a few ms apart',
  'frozen-candidate': 'the master dies while the slave to be promoted is frozen for seconds',
  'rabbitmq-kill': 'SIGKILL of RabbitMQ under load, restarted on the same port and data',
  'zookeeper-stop-short': 'SIGSTOP of ZooKeeper shorter than the session timeout',
  'zookeeper-stop-long': 'SIGSTOP of ZooKeeper longer than the session timeout',
  'zookeeper-restart': 'ZooKeeper stopped (SIGTERM or SIGKILL) and restarted on the same data',
  'orchestrator-kill-launch': 'SIGKILL of the supervising orchestrator while it launches a worker',
  'orchestrator-kill-failover': 'SIGKILL of the supervising orchestrator during a failover',
  'standby-takeover': 'SIGKILL of the supervising orchestrator; the standby must take over',
  'link-slow': "one worker's broker link delayed for seconds",
  'link-cut': "one worker's broker link reset",
  'link-blackhole': "one worker's broker link silent past two AMQP heartbeats",
};

/** What a kind needs from the environment. */
export function requirements(kind: FaultName): { orchestrators: 1 | 2; brokerProxy: boolean } {
  return { orchestrators: kind === 'standby-takeover' ? 2 : 1, brokerProxy: kind.startsWith('link-') };
}

export interface InjectionContext {
  env: FaultEnvironment;
  random: Random;
  /** Call once the harm is done; the heal wait starts then (heal times count from injection). */
  applied(): void;
}

export interface Injection {
  detail: string;
}

export async function inject(kind: FaultName, ctx: InjectionContext): Promise<Injection> {
  switch (kind) {
    case 'crash-master':
    case 'crash-slave':
      return crashCall(ctx, kind === 'crash-master' ? 'master' : 'slave');
    case 'kill-worker':
      return killWorker(ctx);
    case 'stop-master':
      return stopMaster(ctx);
    case 'kill-all-workers':
      return killAllWorkers(ctx);
    case 'frozen-candidate':
      return frozenCandidate(ctx);
    case 'rabbitmq-kill':
      return rabbitMqKill(ctx);
    case 'zookeeper-stop-short':
    case 'zookeeper-stop-long':
      return zooKeeperStop(ctx, kind === 'zookeeper-stop-long');
    case 'zookeeper-restart':
      return zooKeeperRestart(ctx);
    case 'orchestrator-kill-launch':
      return orchestratorKillDuringLaunch(ctx);
    case 'orchestrator-kill-failover':
      return orchestratorKillDuringFailover(ctx);
    case 'standby-takeover':
      return standbyTakeover(ctx);
    case 'link-slow':
    case 'link-cut':
    case 'link-blackhole':
      return linkFault(ctx, kind);
  }
}

// ---- workers -----------------------------------------------------------------------------------

async function crashCall({ env, applied }: InjectionContext, which: 'master' | 'slave'): Promise<Injection> {
  const supervisor = await supervisingOrFirst(env);
  const outcome = await call<number[]>('POST', `${supervisor.url}/api/v1/crash/${which}`, undefined, 30_000);
  applied();
  return { detail: `crash/${which} to orchestrator ${supervisor.name}: ${outcome.status} ${outcome.error ?? JSON.stringify(outcome.body)}` };
}

async function killWorker({ env, random, applied }: InjectionContext): Promise<Injection> {
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

async function stopMaster({ env, random, applied }: InjectionContext): Promise<Injection> {
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

async function killAllWorkers({ env, random, applied }: InjectionContext): Promise<Injection> {
  // Every worker process of the cluster, registered or not: the machine-wide crash.
  const victims = shuffled(clusterProcesses(env.cluster).filter((proc) => proc.kind === 'worker'), random);
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

async function frozenCandidate({ env, random, applied }: InjectionContext): Promise<Injection> {
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
    const supervisor = await supervisingOrFirst(env);
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

// ---- servers -----------------------------------------------------------------------------------

async function rabbitMqKill({ env, random, applied }: InjectionContext): Promise<Injection> {
  await env.rabbit.crash();
  applied();
  const downMs = random.int(0, 1500);
  await sleep(downMs);
  try {
    const bootMs = await env.rabbit.start();
    return { detail: `SIGKILL RabbitMQ, down ${downMs} ms, restarted on the same port and data in ${bootMs} ms` };
  } catch (error) {
    return { detail: `SIGKILL RabbitMQ, down ${downMs} ms, restart FAILED: ${String(error)}` };
  }
}

async function zooKeeperStop({ env, random, applied }: InjectionContext, longer: boolean): Promise<Injection> {
  const session = env.options.sessionTimeoutMs;
  const heldMs = longer ? random.int(session * 2, session * 3) : random.int(Math.round(session * 0.3), Math.round(session * 0.6));
  const stopped = env.zk.pause();
  applied();
  await sleep(heldMs);
  return { detail: `SIGSTOP ZooKeeper ${stopped}, held ${heldMs} ms (session ${session} ms), SIGCONT ${env.zk.resume()}` };
}

async function zooKeeperRestart({ env, random, applied }: InjectionContext): Promise<Injection> {
  const hard = random.next() < 0.5;
  if (hard) await env.zk.crash();
  else await env.zk.stop();
  applied();
  const downMs = random.int(0, 1000);
  await sleep(downMs);
  try {
    const bootMs = await env.zk.start();
    return { detail: `${hard ? 'SIGKILL' : 'SIGTERM'} ZooKeeper, down ${downMs} ms, restarted on the same port and data in ${bootMs} ms` };
  } catch (error) {
    return { detail: `${hard ? 'SIGKILL' : 'SIGTERM'} ZooKeeper, restart FAILED: ${String(error)}` };
  }
}

// ---- orchestrators -----------------------------------------------------------------------------

async function orchestratorKillDuringLaunch({ env, random, applied }: InjectionContext): Promise<Injection> {
  const supervisor = await supervisingOrFirst(env);
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

async function orchestratorKillDuringFailover({ env, random, applied }: InjectionContext): Promise<Injection> {
  const supervisor = await supervisingOrFirst(env);
  const crash = await call('POST', `${supervisor.url}/api/v1/crash/master`, undefined, 30_000);
  const delayMs = random.int(0, 150);
  await sleep(delayMs);
  const killed = await supervisor.kill();
  applied();
  const roles = describe(await env.inspector.workers().catch(() => []));
  return { detail: `crash/master ${crash.status} ${JSON.stringify(crash.body)}; SIGKILL orchestrator ${supervisor.name} (pid ${killed}) ${delayMs} ms later; workers then: ${roles}` };
}

async function standbyTakeover({ env, applied }: InjectionContext): Promise<Injection> {
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
  while (Date.now() - since < 30_000) {
    holder = await env.supervising();
    if (holder === standby) break;
    await sleep(50);
  }
  supervisor.releaseRestarts();
  const outcome = holder === standby ? `standby ${standby.name} holds the lease after ${Date.now() - since} ms` : `standby ${standby.name} did NOT take the lease within 30 s`;
  return { detail: `SIGKILL supervising orchestrator ${supervisor.name} (pid ${killed}); ${outcome}; ${supervisor.name} then restarted` };
}

// ---- links -------------------------------------------------------------------------------------

async function linkFault({ env, random, applied }: InjectionContext, kind: 'link-slow' | 'link-cut' | 'link-blackhole'): Promise<Injection> {
  const proxy = env.proxy;
  if (!proxy) throw new Error(`${kind} needs the broker proxy (brokerProxy: true)`);
  const workers = await env.inspector.workers();
  const master = workers.find((worker) => worker.role === 'master');
  const slaves = workers.filter((worker) => worker.role === 'slave');
  const target = master && (slaves.length === 0 || random.next() < 0.5) ? master : slaves.length > 0 ? random.pick(slaves) : undefined;
  const ports = target ? connectionPorts(target.pid, proxy.port) : [];
  if (!target || ports.length === 0) {
    applied();
    return { detail: `no link of ${target ? `${target.role} ${target.pid}` : 'any worker'} found in the proxy` };
  }
  const who = `${target.role} ${target.pid} (${ports.length} connection${ports.length > 1 ? 's' : ''})`;
  if (kind === 'link-cut') {
    const cut = proxy.cut(ports);
    applied();
    return { detail: `cut the broker link of ${who}: ${cut} reset` };
  }
  const both: Direction[] = ['to-server', 'to-client'];
  if (kind === 'link-slow') {
    const directions = random.pick<Direction[]>([['to-server'], ['to-client'], both]);
    const delayMs = random.int(100, 500);
    const heldMs = random.int(3000, 5000);
    proxy.set(ports, directions, { mode: 'delay', delayMs });
    applied();
    await sleep(heldMs);
    proxy.heal(ports);
    return { detail: `delayed ${directions.join('+')} of ${who} by ${delayMs} ms for ${heldMs} ms` };
  }
  // Silent on both sides, for longer than two AMQP heartbeats (5 s each): only heartbeats can tell.
  const heldMs = random.int(11_000, 13_000);
  proxy.set(ports, both, { mode: 'pause' });
  applied();
  await sleep(heldMs);
  const left = proxy.heal(ports);
  return { detail: `black-holed both directions of ${who} for ${heldMs} ms; ${left} of its links still open afterwards` };
}

// ---- helpers -----------------------------------------------------------------------------------

async function supervisingOrFirst(env: FaultEnvironment): Promise<OrchestratorProcess> {
  return (await env.supervising()) ?? env.orchestrators.find((orchestrator) => orchestrator.isRunning) ?? (env.orchestrators[0] as OrchestratorProcess);
}

function ranks(workers: WorkerInfo[]): WorkerInfo[] {
  return [...workers].sort((a, b) => (a.role === b.role ? a.pid - b.pid : a.role === 'master' ? -1 : 1));
}

function describe(workers: WorkerInfo[]): string {
  return workers.map((worker) => `${worker.role} ${worker.pid}${worker.ready ? '' : ' (not ready)'}`).join(', ') || 'none registered';
}

export function shuffled<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = random.int(0, i);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
