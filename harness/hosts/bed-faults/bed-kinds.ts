/**
 * The fault kinds of the test bed: each injects into the real servers of a host that holds no
 * master (users or rides), or, the `master-host-*` kinds, of the host whose namespace runs the
 * database's master (`network-delay` slows every link between the hosts instead), holds the
 * harm for a seeded while, undoes it as the real world would (a crashed or frozen host comes
 * back, a cut link heals, a lost server's host is restarted with its documented command) and
 * describes what it did. While the harm holds, the environment's
 * `faulted` names the host, so the clients leave its orchestrator and gateway out.
 */
import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { RideShareError } from '../../../src/shared/errors.ts';
import { sendSignal, waitFor } from '../../../src/shared/processes.ts';
import { sleep } from '../../../src/shared/timeout.ts';
import type { Random } from '../../chaos/prng.ts';
import { FAKETIME_LIBRARY } from '../host-clock.ts';
import { pidsIn } from '../namespace-pids.ts';
import { RABBITMQ_PORTS, ZOOKEEPER_PORTS, type NetworkFault } from '../network-faults.ts';
import { call } from '../../chaos/client.ts';
import { BED_HOSTS, type BedFaultEnvironment, type BedHost, NON_DB_HOSTS } from './bed-fault-environment.ts';

/** The kinds that harm whichever host runs the master at the time (masterHostFault). */
const MASTER_HOST_KINDS = [
  'master-host-crash',
  'master-host-crash-wiped',
  'master-host-freeze',
  'master-host-partition',
  'master-host-partition-outgoing',
  'master-host-partition-incoming',
  'master-host-zookeeper-cut',
  'master-host-rabbitmq-cut',
  'master-host-zookeeper-link',
  'master-host-packet-loss',
  'master-host-clock-ahead',
  'master-host-clock-behind',
] as const;
type MasterHostKind = (typeof MASTER_HOST_KINDS)[number];

export const BED_FAULT_KINDS = [
  'users-host-crash',
  'rides-host-crash',
  'slave-host-crash',
  'host-crash-wiped',
  'users-host-freeze',
  'rabbitmq-node-loss',
  'zookeeper-server-loss',
  'partition-both',
  'partition-outgoing',
  'partition-incoming',
  'zookeeper-ports-cut',
  'rabbitmq-ports-cut',
  'packet-loss',
  'delay',
  'network-delay',
  'clock-ahead',
  'clock-behind',
  ...MASTER_HOST_KINDS,
] as const;

/** The kinds that step a host's clock: the environment must run every host on a faked clock (host-clock.ts). */
export const CLOCK_KINDS: readonly BedFaultName[] = ['clock-ahead', 'clock-behind', 'master-host-clock-ahead', 'master-host-clock-behind'];

export type BedFaultName = (typeof BED_FAULT_KINDS)[number];

/** How far a clock kind steps a host's wall clock: past any call's deadline. */
const CLOCK_STEP_SECONDS = 30;

/** How long a host's npm start may take to run a lost server again. */
const SERVER_BACK_TIMEOUT_MS = 60_000;

export const BED_DESCRIPTIONS: Record<BedFaultName, string> = {
  'users-host-crash': 'every process of the users host killed at once (traffic dropped first), restarted with npm start -- --host users',
  'rides-host-crash': 'every process of the rides host killed at once, restarted with npm start -- --host rides',
  'slave-host-crash': 'the users or the rides host, whichever runs a slave (the first in the seeded order if both), crashed with its slave, restarted with npm start -- --host',
  'host-crash-wiped': 'users or rides crashed and its DATA_DIR emptied; the secrets copied back, then npm start -- --host',
  'users-host-freeze': 'SIGSTOP to every process of the users host past the ZooKeeper session (4 s), then SIGCONT',
  'rabbitmq-node-loss': "SIGKILL of users' or rides' RabbitMQ node only; the host's npm start runs it again",
  'zookeeper-server-loss': "SIGKILL of users' or rides' ZooKeeper server only; the host's npm start runs it again",
  'partition-both': 'users or rides cut off from both peers, both ways',
  'partition-outgoing': "users' or rides' packets to its peers dropped; theirs to it pass",
  'partition-incoming': "the peers' packets to users or rides dropped; its own pass",
  'zookeeper-ports-cut': 'users or rides cut off on 2181, 2888, 3888 only',
  'rabbitmq-ports-cut': 'users or rides cut off on 5672, 25672, 4369 only',
  'packet-loss': 'each packet in and out of users or rides dropped with probability 5-20 %',
  delay: "5-50 ms each way (the delay proxy) on the clients' path to the orchestrator of users or rides",
  'network-delay': "every frame between any two hosts (the clients' too) held 5-50 ms each way by the delay switch: RabbitMQ's, ZooKeeper's and the streams' own links",
  'clock-ahead': `the wall clock of users' or rides' RideShare processes stepped ${CLOCK_STEP_SECONDS} s ahead (libfaketime), then back`,
  'clock-behind': `the wall clock of users' or rides' RideShare processes stepped ${CLOCK_STEP_SECONDS} s behind (libfaketime), then back`,
  'master-host-crash': "every process of the master's host killed at once, restarted with npm start -- --host",
  'master-host-crash-wiped': "the master's host crashed and its DATA_DIR emptied (the master's file with it); the secrets copied back, then npm start -- --host",
  'master-host-freeze': "SIGSTOP to every process of the master's host past the ZooKeeper session (4 s), then SIGCONT",
  'master-host-partition': "the master's host cut off from every other host (the clients' too), both ways",
  'master-host-partition-outgoing': "the master's host's packets to every other host dropped; theirs to it pass",
  'master-host-partition-incoming': "every other host's packets to the master's host dropped; its own pass",
  'master-host-zookeeper-cut': "the master's host cut off on 2181, 2888, 3888 only: its ZooKeeper server leaves the quorum, its processes reach no other server",
  'master-host-rabbitmq-cut': "the master's host cut off on 5672, 25672, 4369 only: its RabbitMQ node is cut from the cluster, its processes reach no other node",
  'master-host-zookeeper-link':
    "the link from the master's host's processes to its own ZooKeeper server goes silent (dropped on loopback); the server stays in the quorum, the other servers stay reachable",
  'master-host-packet-loss': "each packet in and out of the master's host dropped with probability 5-20 %",
  'master-host-clock-ahead': `the wall clock of the master's host's RideShare processes stepped ${CLOCK_STEP_SECONDS} s ahead (libfaketime), then back`,
  'master-host-clock-behind': `the wall clock of the master's host's RideShare processes stepped ${CLOCK_STEP_SECONDS} s behind (libfaketime), then back`,
};

export interface BedInjectionContext {
  env: BedFaultEnvironment;
  random: Random;
  /** Call once the harm is done. */
  applied(): void;
}

export interface BedInjection {
  /** The host harmed; none for a fault of every link (network-delay). */
  host?: BedHost;
  detail: string;
  /** From the harm done to the harm undone (the host restarted, the link healed). */
  heldMs: number;
}

export async function injectBedFault(kind: BedFaultName, ctx: BedInjectionContext): Promise<BedInjection> {
  switch (kind) {
    case 'users-host-crash':
      return crash(ctx, 'users', false);
    case 'rides-host-crash':
      return crash(ctx, 'rides', false);
    case 'slave-host-crash': {
      const crashed = await crash(ctx, await slaveHost(ctx), false);
      return { ...crashed, detail: `${crashed.detail}; a slave of the database lost with it` };
    }
    case 'host-crash-wiped':
      return crash(ctx, pick(ctx.random), true);
    case 'users-host-freeze':
      return freeze(ctx, 'users');
    case 'rabbitmq-node-loss':
      return serverLoss(ctx, pick(ctx.random), 'beam.smp');
    case 'zookeeper-server-loss':
      return serverLoss(ctx, pick(ctx.random), 'java');
    case 'partition-both':
    case 'partition-outgoing':
    case 'partition-incoming': {
      const host = pick(ctx.random);
      const direction = kind === 'partition-both' ? 'both' : kind === 'partition-outgoing' ? 'outgoing' : 'incoming';
      return networkFault(ctx, host, () => ctx.env.bed.partition(host, { direction }), `${host} partitioned ${direction === 'both' ? 'both ways' : `(${direction} only)`}`, true);
    }
    case 'zookeeper-ports-cut':
    case 'rabbitmq-ports-cut': {
      const host = pick(ctx.random);
      const which = kind === 'zookeeper-ports-cut' ? 'zookeeper' : 'rabbitmq';
      const ports = which === 'zookeeper' ? ZOOKEEPER_PORTS : RABBITMQ_PORTS;
      return networkFault(ctx, host, () => ctx.env.bed.cutPorts(host, which), `${host} cut off on ${ports.join(', ')}`);
    }
    case 'packet-loss': {
      const host = pick(ctx.random);
      const percent = ctx.random.int(5, 20);
      return networkFault(ctx, host, () => ctx.env.bed.loss(host, percent), `${host} losing ${percent} % of its packets`);
    }
    case 'delay':
      return delay(ctx, pick(ctx.random));
    case 'network-delay': {
      const delayMs = ctx.random.int(5, 50);
      return networkFault(ctx, undefined, () => ctx.env.bed.delay(delayMs), `${delayMs} ms each way between every two hosts`);
    }
    case 'clock-ahead':
    case 'clock-behind': {
      const host = pick(ctx.random);
      return clockStep(ctx, host, kind === 'clock-ahead' ? CLOCK_STEP_SECONDS : -CLOCK_STEP_SECONDS, host);
    }
    default:
      return masterHostFault(kind, ctx);
  }
}

/** A fault of the master's host; the detail says when a master ran on another host (the failover seen from outside). */
async function masterHostFault(kind: MasterHostKind, ctx: BedInjectionContext): Promise<BedInjection> {
  const host = await ctx.env.masterHost();
  if (host === undefined) throw new RideShareError('INTERNAL', 'no master is registered to fault the host of');
  let harmAt = 0;
  const moved = watchMasterMove(ctx.env, host, () => harmAt);
  const marked = {
    ...ctx,
    applied: () => {
      harmAt = Date.now();
      ctx.applied();
    },
  };
  try {
    const done = await harmMasterHost(kind, marked, host);
    return { ...done, detail: `${done.detail}; ${moved.say()}` };
  } finally {
    moved.stop();
  }
}

function harmMasterHost(kind: MasterHostKind, ctx: BedInjectionContext, host: BedHost): Promise<BedInjection> {
  const { bed } = ctx.env;
  const its = `${host} (the master's host)`;
  switch (kind) {
    case 'master-host-crash':
    case 'master-host-crash-wiped':
      return crash(ctx, host, kind === 'master-host-crash-wiped');
    case 'master-host-freeze':
      return freeze(ctx, host);
    case 'master-host-partition':
      return networkFault(ctx, host, () => bed.partition(host), `${its} partitioned both ways`, true);
    case 'master-host-partition-outgoing':
      return networkFault(ctx, host, () => bed.partition(host, { direction: 'outgoing' }), `${its} partitioned (outgoing only)`, true);
    case 'master-host-partition-incoming':
      return networkFault(ctx, host, () => bed.partition(host, { direction: 'incoming' }), `${its} partitioned (incoming only)`, true);
    case 'master-host-zookeeper-cut':
      return networkFault(ctx, host, () => bed.cutPorts(host, 'zookeeper'), `${its} cut off on ${ZOOKEEPER_PORTS.join(', ')}`);
    case 'master-host-rabbitmq-cut':
      return networkFault(ctx, host, () => bed.cutPorts(host, 'rabbitmq'), `${its} cut off on ${RABBITMQ_PORTS.join(', ')}`);
    case 'master-host-zookeeper-link':
      return networkFault(ctx, host, () => bed.cutOwnServer(host, 'zookeeper'), `${its} processes' link to its own ZooKeeper server silent`);
    case 'master-host-packet-loss': {
      const percent = ctx.random.int(5, 20);
      return networkFault(ctx, host, () => bed.loss(host, percent), `${its} losing ${percent} % of its packets`);
    }
    case 'master-host-clock-ahead':
      return clockStep(ctx, host, CLOCK_STEP_SECONDS, its);
    case 'master-host-clock-behind':
      return clockStep(ctx, host, -CLOCK_STEP_SECONDS, its);
  }
}

/**
 * Polls, while a fault holds, the spared hosts' orchestrators for a master in another host's
 * namespace than `from` (GET /api/v1/cluster, as an operator would look; ZooKeeper itself may be
 * slow to answer through a frozen or cut host's server).
 */
function watchMasterMove(env: BedFaultEnvironment, from: BedHost, harmAt: () => number): { say(): string; stop(): void } {
  let seen: { host: BedHost; afterMs: number } | undefined;
  let stopped = false;
  const spared = BED_HOSTS.filter((host) => host !== from);
  void (async () => {
    for (let turn = 0; !stopped && seen === undefined; turn += 1) {
      const through = spared[turn % spared.length] as BedHost;
      const answer = await call('GET', `${env.orchestratorUrl(through)}/api/v1/cluster`, undefined, 1000);
      const pid = (answer.body as { master?: { pid?: unknown } | null } | undefined)?.master?.pid;
      const host = typeof pid === 'number' ? env.hostOfPid(pid) : undefined;
      if (host !== undefined && host !== from && harmAt() > 0) seen = { host, afterMs: Date.now() - harmAt() };
      else await sleep(100);
    }
  })();
  return {
    say: () => (seen ? `a master ran on ${seen.host} ${(seen.afterMs / 1000).toFixed(1)} s after the harm` : `no master seen on another host while the fault held`),
    stop: () => {
      stopped = true;
    },
  };
}

function pick(random: Random): BedHost {
  return NON_DB_HOSTS[random.int(0, NON_DB_HOSTS.length - 1)] as BedHost;
}

/** A host that holds no master and runs a slave now: losing it loses that slave. */
async function slaveHost(ctx: BedInjectionContext): Promise<BedHost> {
  const hosts = await ctx.env.slaveHosts();
  if (hosts.length === 0) throw new RideShareError('INTERNAL', 'no slave runs on users or rides: every slave is on the master\u2019s host');
  const first = pick(ctx.random);
  return hosts.includes(first) ? first : (hosts[0] as BedHost);
}

async function restartHost(env: BedFaultEnvironment, host: BedHost): Promise<number> {
  return env.deployment.start(host);
}

async function crash(ctx: BedInjectionContext, host: BedHost, wipe: boolean): Promise<BedInjection> {
  const { env } = ctx;
  const dataDir = env.deployment.dataDirs.get(host) as string;
  env.faulted = host;
  const crashed = await env.bed.crash(host, wipe ? { wipeDir: dataDir } : {});
  const began = Date.now();
  ctx.applied();
  const downMs = ctx.random.int(3000, 8000);
  await sleep(downMs);
  // A blank disk has no secrets: the operator copies them again from another host, as at the first start (docs/hosts.md).
  const spared = env.deployment.dataDirs.get(BED_HOSTS.find((other) => other !== host) as BedHost) as string;
  if (wipe) cpSync(path.join(spared, 'secrets'), path.join(dataDir, 'secrets'), { recursive: true, preserveTimestamps: true });
  let upMs = 0;
  await crashed.restart(async () => {
    upMs = await restartHost(env, host);
  });
  const heldMs = Date.now() - began;
  env.faulted = undefined;
  return {
    host,
    heldMs,
    detail: `${host} crashed (${crashed.killed.length} processes${wipe ? ', DATA_DIR wiped' : ''}), down ${downMs} ms, up again ${(upMs / 1000).toFixed(1)} s after its npm start`,
  };
}

async function freeze(ctx: BedInjectionContext, host: BedHost): Promise<BedInjection> {
  const { env } = ctx;
  env.faulted = host;
  const frozen = env.bed.freeze(host);
  const began = Date.now();
  ctx.applied();
  const holdMs = ctx.random.int(6000, 12_000);
  await sleep(holdMs);
  frozen.thaw();
  env.faulted = undefined;
  return { host, heldMs: Date.now() - began, detail: `${host} frozen (${frozen.pids.length} processes) for ${holdMs} ms` };
}

/** The host's processes running `program` (beam.smp: its RabbitMQ node; java: its ZooKeeper server). */
function programPids(namespace: string, program: string): number[] {
  return pidsIn(namespace).filter((pid) => {
    try {
      return /^Name:\s+(.+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] === program;
    } catch {
      return false;
    }
  });
}

async function serverLoss(ctx: BedInjectionContext, host: BedHost, program: 'beam.smp' | 'java'): Promise<BedInjection> {
  const { env } = ctx;
  const namespace = env.bed.host(host).namespace;
  const pids = programPids(namespace, program);
  if (pids.length === 0) throw new RideShareError('INTERNAL', `no ${program} runs in ${host}`);
  for (const pid of pids) sendSignal(pid, 'SIGKILL');
  const began = Date.now();
  ctx.applied();
  // The host's npm start starts its lost server again (src/infra/kept-server.ts); the rest of the
  // host goes on through the other hosts' servers meanwhile. The round's heal check says when the
  // deployment is whole again.
  const back = await waitFor(() => programPids(namespace, program).some((pid) => !pids.includes(pid)), SERVER_BACK_TIMEOUT_MS, 100);
  const what = program === 'java' ? 'ZooKeeper server' : 'RabbitMQ node';
  return {
    host,
    heldMs: Date.now() - began,
    detail: `${host}'s ${what} killed (pid ${pids.join(', ')}); ${back ? `its npm start ran it again ${Date.now() - began} ms later` : `not run again within ${SERVER_BACK_TIMEOUT_MS / 1000} s`}`,
  };
}

/** `unreachable`: the clients in db cannot reach the host at all, so they leave it out; a cut of some ports, a lossy or a slow link they go on using. */
async function networkFault(ctx: BedInjectionContext, host: BedHost | undefined, inject: () => Promise<Pick<NetworkFault, 'heal'>>, what: string, unreachable = false): Promise<BedInjection> {
  const { env } = ctx;
  if (unreachable) env.faulted = host;
  const fault = await inject();
  const began = Date.now();
  ctx.applied();
  const holdMs = ctx.random.int(8000, 16_000);
  await sleep(holdMs);
  await fault.heal();
  env.faulted = undefined;
  return { ...(host ? { host } : {}), heldMs: Date.now() - began, detail: `${what} for ${holdMs} ms` };
}

async function delay(ctx: BedInjectionContext, host: BedHost): Promise<BedInjection> {
  const { env } = ctx;
  const delayMs = ctx.random.int(5, 50);
  const slow = await env.bed.delayedPath({ from: env.bridge.from, to: host, port: 8000, delayMs });
  env.orchestratorDetours.set(host, await env.bridge.url(slow.host, slow.port));
  const began = Date.now();
  ctx.applied();
  const holdMs = ctx.random.int(8000, 16_000);
  await sleep(holdMs);
  env.orchestratorDetours.delete(host);
  await slow.stop();
  return { host, heldMs: Date.now() - began, detail: `${delayMs} ms each way between db and ${host}'s orchestrator for ${holdMs} ms` };
}

/**
 * Steps the wall clock of the host's RideShare processes (its RabbitMQ node and ZooKeeper server
 * keep the true time), holds, and steps it back, as an NTP step and its correction would. The host
 * stays reachable: the clients go on using its orchestrator and gateway.
 */
async function clockStep(ctx: BedInjectionContext, host: BedHost, seconds: number, what: string): Promise<BedInjection> {
  const clock = ctx.env.clocks.get(host);
  if (clock === undefined) throw new RideShareError('CONFIG_INVALID', `${host}'s clock is not faked: the environment was started without fakeClocks`);
  clock.step(seconds);
  const began = Date.now();
  ctx.applied();
  const holdMs = ctx.random.int(8000, 16_000);
  // Halfway through, the host's orchestrator's own HTTP Date header says what its clock reads.
  await sleep(holdMs / 2);
  const seen = await orchestratorClockOffset(ctx.env.orchestratorUrl(host));
  const faked = processesWithLibrary(ctx.env.bed.host(host).namespace, FAKETIME_LIBRARY);
  await sleep(holdMs / 2);
  clock.step(0);
  const said = seen === undefined ? 'its orchestrator did not answer' : `its orchestrator's Date header ${seen >= 0 ? '+' : ''}${seen.toFixed(0)} s from the true time`;
  return {
    host,
    heldMs: Date.now() - began,
    detail: `the clock of ${what} ${Math.abs(seconds)} s ${seconds > 0 ? 'ahead' : 'behind'} for ${holdMs} ms, then stepped back (${said}; libfaketime in ${faked.with} of its ${faked.of} node processes)`,
  };
}

/** Seconds between an HTTP server's Date header and this process's clock (within the header's 1 s); undefined when it does not answer. */
async function orchestratorClockOffset(url: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    const date = response.headers.get('date');
    return date === null ? undefined : (Date.parse(date) - Date.now()) / 1000;
  } catch {
    return undefined;
  }
}

/** Of the namespace's node processes, how many have `library` mapped. */
function processesWithLibrary(namespace: string, library: string): { with: number; of: number } {
  let withIt = 0;
  let of = 0;
  for (const pid of programPids(namespace, 'node')) {
    try {
      const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
      of += 1;
      if (maps.includes(library)) withIt += 1;
    } catch {
      // gone meanwhile
    }
  }
  return { with: withIt, of };
}
