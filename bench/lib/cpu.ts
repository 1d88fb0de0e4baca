/**
 * CPU time of processes, from /proc (Linux): how much each process of a measured system spends
 * per request. On a two-core machine the rates are set by CPU, so this is where a rate is
 * explained, and where a busy machine shows ("rest of machine").
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { runLoad, type LoadOptions, type LoadResult } from './load.ts';

export const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in ms; undefined once it is gone. */
export function processCpuMs(pid: number): number | undefined {
  try {
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Busy CPU of the whole machine, in ms (everything but idle and iowait). */
export function machineBusyMs(): number {
  const [, ...values] = (fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
  const ticks = values.slice(0, 8).map(Number);
  const busy = ticks.reduce((sum, value) => sum + value, 0) - (ticks[3] ?? 0) - (ticks[4] ?? 0);
  return (busy * 1000) / TICKS_PER_SECOND;
}

/** The command line of a process, its arguments joined by spaces; '' once it is gone. */
export function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

function numericEntries(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

/** Pids whose executable name (/proc/<pid>/comm) is `name`. */
export function pidsNamed(name: string): number[] {
  return numericEntries().filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  });
}

/** The process listening on a TCP port of this machine, through its socket's inode. */
export function listenerPid(port: string | number): number | undefined {
  const hexPort = Number(port).toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = fs.existsSync(table) ? fs.readFileSync(table, 'utf8').split('\n').slice(1) : [];
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A' && fields[9]) inodes.add(`socket:[${fields[9]}]`);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of numericEntries()) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (inodes.has(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))) return pid;
      } catch {
        // The descriptor closed while we looked.
      }
    }
  }
  return undefined;
}

/** Named groups of processes whose CPU a measurement reports, e.g. `{ orchestrator: [pid], slave: [pid] }`. */
export type ProcessGroups = Record<string, number[]>;

/** The load generator's own process, always reported. */
export const BENCH_PROCESS = 'bench process';
/** Busy CPU of the machine outside every group: other work sharing the cores. */
export const REST_OF_MACHINE = 'rest of machine';

export interface CpuLoadResult extends LoadResult {
  /** CPU ms per measured request by group, then BENCH_PROCESS and REST_OF_MACHINE. */
  cpuMsPerRequest: Record<string, number>;
}

interface Sample {
  byPid: Map<number, number>;
  benchMs: number;
  machineMs: number;
}

function sample(groups: ProcessGroups): Sample {
  const byPid = new Map<number, number>();
  for (const pids of Object.values(groups)) {
    for (const pid of pids) {
      const ms = processCpuMs(pid);
      if (ms !== undefined) byPid.set(pid, ms);
    }
  }
  const own = process.cpuUsage();
  return { byPid, benchMs: (own.user + own.system) / 1000, machineMs: machineBusyMs() };
}

/** CPU ms the processes spent between two samples; one gone by the second counts for nothing. */
function cpuMsBetween(before: Sample, after: Sample, pids: number[]): number {
  let ms = 0;
  for (const pid of pids) {
    const start = before.byPid.get(pid);
    const end = after.byPid.get(pid);
    if (start !== undefined && end !== undefined) ms += end - start;
  }
  return ms;
}

/**
 * runLoad, with its warm-up run first outside the CPU window so that the figures per request are
 * the measured requests' own. A process that is gone by the end counts for nothing.
 */
export async function runLoadWithCpu(options: LoadOptions, groups: ProcessGroups): Promise<CpuLoadResult> {
  const warmup = options.warmup ?? Math.min(500, Math.ceil(options.requests / 5));
  if (warmup > 0) await runLoad({ ...options, requests: warmup, warmup: 0 });
  const before = sample(groups);
  const result = await runLoad({ ...options, warmup: 0 });
  const after = sample(groups);
  const cpuMsPerRequest: Record<string, number> = {};
  let known = 0;
  for (const [name, pids] of Object.entries(groups)) {
    const ms = cpuMsBetween(before, after, pids);
    known += ms;
    cpuMsPerRequest[name] = ms / result.requests;
  }
  const benchMs = after.benchMs - before.benchMs;
  cpuMsPerRequest[BENCH_PROCESS] = benchMs / result.requests;
  cpuMsPerRequest[REST_OF_MACHINE] = Math.max(0, after.machineMs - before.machineMs - known - benchMs) / result.requests;
  return { ...result, cpuMsPerRequest };
}

/**
 * CPU ms per second each group spends while no load runs (its timers, heartbeats, health
 * checks): what a measurement subtracts to see the cost of the requests themselves, which
 * matters where the rate is low and a second's background is a large part of a request's share.
 */
export async function idleCpuMsPerSecond(groups: ProcessGroups, windowMs: number): Promise<Record<string, number>> {
  const before = sample(groups);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const seconds = (performance.now() - started) / 1000;
  const after = sample(groups);
  const perSecond: Record<string, number> = {};
  for (const [name, pids] of Object.entries(groups)) {
    const ms = cpuMsBetween(before, after, pids);
    perSecond[name] = ms / seconds;
  }
  return perSecond;
}
