/**
 * Which processes live in a named network namespace: what `ip netns pids` answers, read here
 * without a process per question. /run/netns/<ns> is a bind mount of the namespace, whose inode
 * is the number /proc/<pid>/ns/net names (`net:[4026532...]`). A zombie has left its namespaces
 * and is not listed; a process that forked a moment ago is.
 */
import fs from 'node:fs';
import { listPids } from '../../src/shared/processes.ts';

export const NETNS_RUN = '/run/netns';

function namespaceInode(namespace: string): number | undefined {
  try {
    return fs.statSync(`${NETNS_RUN}/${namespace}`).ino;
  } catch {
    return undefined;
  }
}

function netOf(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** Pids per namespace, for every namespace asked about (one scan of /proc for all of them). */
export function pidsByNamespace(namespaces: readonly string[]): Map<string, number[]> {
  const byLink = new Map<string, string>();
  const found = new Map<string, number[]>();
  for (const namespace of namespaces) {
    found.set(namespace, []);
    const inode = namespaceInode(namespace);
    if (inode !== undefined) byLink.set(`net:[${inode}]`, namespace);
  }
  if (byLink.size === 0) return found;
  for (const pid of listPids()) {
    const link = netOf(pid);
    const namespace = link === undefined ? undefined : byLink.get(link);
    if (namespace !== undefined) found.get(namespace)?.push(pid);
  }
  return found;
}

export function pidsIn(namespace: string): number[] {
  return pidsByNamespace([namespace]).get(namespace) ?? [];
}

/** Every named namespace of the machine (the files of /run/netns, which `ip netns list` reads). */
export function listNamespaces(): string[] {
  try {
    return fs.readdirSync(NETNS_RUN);
  } catch {
    return [];
  }
}
