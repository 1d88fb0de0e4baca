/**
 * Where a write and a read spend CPU across hosts: RideShare's three-host deployment on the test
 * bed (the ha placement, workers on db, as bench/hosts-anchor.ts runs it), loaded through users'
 * orchestrator, with the CPU of every process of each host counted per request and grouped by
 * what it is (RabbitMQ node, ZooKeeper server, worker, the host's own RideShare process). On two
 * shared cores the rate at 64 in flight is set by CPU, so this says which part a faster write
 * path must make cheaper. What each group spends idle (timers, heartbeats) over the same time is
 * subtracted: at a low rate it would otherwise be most of a request's share.
 *
 *   npx tsx bench/hosts-cpu.ts [--rounds 3] [--requests 3000]
 */
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { BED_HOSTS, BedFaultEnvironment } from '../harness/hosts/bed-faults/bed-fault-environment.ts';
import { pidsByNamespace } from '../harness/hosts/namespace-pids.ts';
import { BENCH_USER, rideMaker } from './database.ts';
import { commandLine, idleCpuMsPerSecond, runLoadWithCpu, type CpuLoadResult, type ProcessGroups } from './lib/cpu.ts';
import { median } from './lib/load.ts';
import { RideShareSide } from './lib/rideshare-side.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, requests: { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 3);
const REQUESTS = Number(values.requests ?? 3000);
const CLIENT_HOST = 'users';
const ORCHESTRATOR_PORT = 8000;
/** How long each round first watches the deployment with no load. */
const IDLE_WINDOW_MS = 5000;
const say = (line: string) => process.stdout.write(`${line}\n`);

/** What a process is, from its executable name and command line. */
function kindOf(pid: number): string {
  let comm = '';
  try {
    comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return 'gone';
  }
  const command = commandLine(pid);
  if (comm === 'beam.smp' || comm === 'erl_child_setup' || comm === 'epmd' || comm === 'inet_gethost') return 'rabbitmq';
  if (comm === 'java') return 'zookeeper';
  if (/worker/.test(command) && !/main\.js/.test(command)) return 'worker';
  if (/main\.js/.test(command)) return 'host process';
  return comm;
}

function groups(env: BedFaultEnvironment): ProcessGroups {
  const namespaces = BED_HOSTS.map((host) => env.bed.host(host).namespace);
  const byNamespace = pidsByNamespace(namespaces);
  const result: ProcessGroups = {};
  BED_HOSTS.forEach((host, index) => {
    for (const pid of byNamespace.get(namespaces[index] as string) ?? []) {
      const key = `${host} ${kindOf(pid)}`;
      const pids = result[key] ?? [];
      pids.push(pid);
      result[key] = pids;
    }
  });
  return result;
}

/** Each group's CPU per request less what it spends per request's share of time when idle. */
function lessIdle(result: CpuLoadResult, idleMsPerSecond: Record<string, number>): Record<string, number> {
  const secondsPerRequest = 1 / result.rate;
  const own: Record<string, number> = {};
  for (const [name, ms] of Object.entries(result.cpuMsPerRequest)) own[name] = Math.max(0, ms - (idleMsPerSecond[name] ?? 0) * secondsPerRequest);
  return own;
}

async function main(): Promise<void> {
  const env = await BedFaultEnvironment.start({ placement: 'ha', name: `cpu${process.pid}`, log: say });
  process.once('SIGINT', () => void env.stop().finally(() => process.exit(130)));
  try {
    const side = new RideShareSide(env, await env.bridge.url(CLIENT_HOST, ORCHESTRATOR_PORT));
    await side.seed(BENCH_USER);
    const nextRide = rideMaker(1_800_000_000);
    const perRound: { writes: Record<string, number>; rate: number; reads: Record<string, number>; readRate: number }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const processGroups = groups(env);
      const idle = await idleCpuMsPerSecond(processGroups, IDLE_WINDOW_MS);
      const writes = await runLoadWithCpu(side.insertOptions(64, REQUESTS, nextRide), processGroups);
      const reads = await runLoadWithCpu(side.readOptions(64, REQUESTS), processGroups);
      perRound.push({ writes: lessIdle(writes, idle), rate: writes.rate, reads: lessIdle(reads, idle), readRate: reads.rate });
      say(
        `round ${round}: writes @64 ${writes.rate.toFixed(0)}/s p50 ${writes.p50Ms.toFixed(1)} ms (${writes.errors} errors); reads @64 ${reads.rate.toFixed(0)}/s p50 ${reads.p50Ms.toFixed(1)} ms; load ${os.loadavg()[0]?.toFixed(1)}`,
      );
    }
    for (const what of ['writes', 'reads'] as const) {
      say(`\nCPU µs per ${what === 'writes' ? 'write' : 'read'} @64, by host and process, every round and the median:`);
      const keys = [...new Set(perRound.flatMap((round) => Object.keys(round[what])))].sort();
      let total = 0;
      for (const key of keys) {
        const figures = perRound.map((round) => (round[what][key] ?? 0) * 1000);
        const middle = median(figures);
        if (!key.startsWith('rest')) total += middle;
        if (middle < 5) continue;
        say(`  ${key.padEnd(26)} ${figures.map((value) => value.toFixed(0).padStart(6)).join(' ')}   median ${middle.toFixed(0)}`);
      }
      say(`  ${'sum of medians (no rest)'.padEnd(26)} ${total.toFixed(0)}`);
    }
  } finally {
    await env.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`hosts cpu failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
