/**
 * What a bed holds right now, host by host: its address, its processes (by namespace, as
 * `ip netns pids` finds them) and their resident memory. `npm run hosts -- status` prints it.
 */
import fs from 'node:fs';
import { commandLine } from '../../src/shared/processes.ts';
import type { BedPlan } from './bed-plan.ts';
import { pidsByNamespace } from './namespace-pids.ts';

export interface HostProcess {
  pid: number;
  command: string;
  rssKiB: number;
}

export interface HostStatus {
  host: string;
  namespace: string;
  address: string;
  /** False when its namespace is gone (a bed half torn down). */
  present: boolean;
  processes: HostProcess[];
  rssKiB: number;
}

function rssKiBOf(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

export function bedStatus(plan: BedPlan): HostStatus[] {
  const pids = pidsByNamespace(plan.hosts.map((host) => host.namespace));
  return plan.hosts.map((host) => {
    const processes = (pids.get(host.namespace) ?? []).map((pid) => ({ pid, command: (commandLine(pid) ?? []).join(' ').slice(0, 120), rssKiB: rssKiBOf(pid) }));
    return {
      host: host.name,
      namespace: host.namespace,
      address: host.address,
      present: fs.existsSync(`/run/netns/${host.namespace}`),
      processes,
      rssKiB: processes.reduce((sum, proc) => sum + proc.rssKiB, 0),
    };
  });
}

export function formatStatus(plan: BedPlan, hosts: HostStatus[]): string {
  const lines = [`bed ${plan.name}: ${plan.subnet}, bridge in ${plan.bridgeNamespace}`];
  for (const host of hosts) {
    const memory = `${(host.rssKiB / 1024).toFixed(1)} MiB resident`;
    lines.push(`  ${host.host.padEnd(12)} ${host.address.padEnd(15)} ${host.present ? '' : '(namespace missing) '}${host.processes.length} processes, ${memory}`);
    for (const proc of host.processes) lines.push(`    ${String(proc.pid).padStart(7)}  ${(proc.rssKiB / 1024).toFixed(1).padStart(7)} MiB  ${proc.command}`);
  }
  return lines.join('\n');
}
