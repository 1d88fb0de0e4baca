/**
 * The fault kinds of the fault-injection suite, each an injector: it does the harm, calls
 * `applied()` the moment the harm is done (the heal clock's reference point for "the cluster may
 * now look whole again"), undoes what a real-world fault would undo by itself (a frozen process
 * thaws, a restarted server comes back, a slow link recovers), and describes what it did. Every
 * choice (target, delay, hold) comes from the seeded random stream, so a run replays from its seed.
 */
import type { Random } from '../chaos/prng.ts';
import type { FaultEnvironment } from './environment.ts';
import { sameRequestId } from './client-faults.ts';
import { clockStep } from './clock-faults.ts';
import { linkFault } from './link-faults.ts';
import { orchestratorLinkFault, orchestratorPartition } from './partition-faults.ts';
import { brokerAlarm, diskFull } from './resource-faults.ts';
import { orchestratorKillDuringFailover, orchestratorKillDuringLaunch, standbyTakeover } from './orchestrator-faults.ts';
import { rabbitMqKill, zooKeeperRestart, zooKeeperStop } from './server-faults.ts';
import { rollingUpgrade } from './upgrade-faults.ts';
import { crashCall, frozenCandidate, killAllWorkers, killWorker, stopMaster } from './worker-faults.ts';

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
  // What lies under the workers and the broker.
  'disk-full',
  'broker-alarm',
  // The orchestrators' own links and clock.
  'orchestrator-link-cut',
  'orchestrator-link-slow',
  'orchestrator-zk-cut',
  'orchestrator-amqp-only-cut',
  'clock-step',
  // A client's behaviour.
  'same-request-id',
  // A new version rolled out.
  'rolling-upgrade',
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
  'disk-full': "the workers' disk filled until SQLite's writes fail, held, then freed",
  'broker-alarm': 'a RabbitMQ memory or disk alarm held past the RPC deadline, then lifted',
  'orchestrator-link-cut': "one orchestrator's broker link reset",
  'orchestrator-link-slow': "one orchestrator's broker link delayed for seconds",
  'orchestrator-zk-cut': 'the supervising orchestrator cut off ZooKeeper (not RabbitMQ) past its session',
  'orchestrator-amqp-only-cut': 'the supervising orchestrator cut off RabbitMQ (not ZooKeeper) past the RPC deadline',
  'clock-step': "one orchestrator's clock stepped by +30 s or -30 s for seconds",
  'same-request-id': 'every write of the round under one X-Request-Id',
  'rolling-upgrade': 'the cluster taken back to the previous protocol version, then each orchestrator restarted in turn on this one',
};

/** Kinds that are a way for clients to behave for a whole round rather than a harm done to a server. */
export function sharesOneRequestId(kinds: readonly FaultName[]): boolean {
  return kinds.includes('same-request-id');
}

export interface InjectionContext {
  env: FaultEnvironment;
  random: Random;
  /** Call once the harm is done; the heal wait starts then (heal times count from injection). */
  applied(): void;
}

export interface Injection {
  detail: string;
  /** Something the fault itself showed to be broken, besides the heal (a standby that never took over). */
  violation?: string;
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
    case 'disk-full':
      return diskFull(ctx);
    case 'broker-alarm':
      return brokerAlarm(ctx);
    case 'orchestrator-link-cut':
    case 'orchestrator-link-slow':
      return orchestratorLinkFault(ctx, kind);
    case 'orchestrator-zk-cut':
    case 'orchestrator-amqp-only-cut':
      return orchestratorPartition(ctx, kind);
    case 'clock-step':
      return clockStep(ctx);
    case 'same-request-id':
      return sameRequestId(ctx);
    case 'rolling-upgrade':
      return rollingUpgrade(ctx);
  }
}
