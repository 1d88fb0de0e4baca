/**
 * Worker processes carry a tag in their argv (`--rideshare-worker=<cluster>/<workerId>`, after
 * the script, where the worker ignores it), so anyone on the machine can find a cluster's workers
 * in /proc: an orchestrator adopting them (registered in ZooKeeper or not yet), and `npm start`
 * making sure none outlives it. Every signal is checked against pid, start time and tag first.
 */
import { readlinkSync } from 'node:fs';
import { commandLine, identify, isSameProcess, listPids, signalIdentified, terminate, waitFor, type ProcessIdentity } from '../../shared/processes.ts';

const TAG_PREFIX = '--rideshare-worker=';

export function workerTag(cluster: string, workerId: string): string {
  return `${TAG_PREFIX}${cluster}/${workerId}`;
}

/** A worker process as found: who it is (identity) and what it claims to be (tag). */
export interface WorkerProcess extends ProcessIdentity {
  workerId: string;
  tag: string;
}

/** Records a worker process just started (or found), or undefined if it is already gone. */
export function identifyWorker(pid: number, cluster: string, workerId: string): WorkerProcess | undefined {
  const identity = identify(pid);
  return identity && { ...identity, workerId, tag: workerTag(cluster, workerId) };
}

/** Signals the worker's process group, only if the process is still that worker; false if nothing was sent. */
export function signalWorker(worker: WorkerProcess, signal: NodeJS.Signals): boolean {
  return signalIdentified(worker, signal, { group: true, check: () => commandLine(worker.pid)?.includes(worker.tag) ?? false });
}

export interface FindWorkersOptions {
  /**
   * Only workers in this process's network namespace: hosts that share one machine's processes
   * (a test bed's, each host a network namespace) must leave each other's workers alone. A worker
   * runs where the runtime that started it runs, so on a machine of its own this drops nothing.
   */
  thisNetworkNamespaceOnly?: boolean;
}

/** Every live worker process of the cluster on this machine (or in this network namespace), found by its tag. */
export function findClusterWorkers(cluster: string, options: FindWorkersOptions = {}): WorkerProcess[] {
  const prefix = `${TAG_PREFIX}${cluster}/`;
  const own = options.thisNetworkNamespaceOnly ? networkNamespaceOf('self') : undefined;
  const found: WorkerProcess[] = [];
  for (const pid of listPids()) {
    const before = identify(pid);
    const tag = before && commandLine(pid)?.find((arg) => arg.startsWith(prefix));
    // Identified again after reading the tag: the pid may have changed hands between the reads.
    if (!before || !tag || identify(pid)?.startTime !== before.startTime) continue;
    if (own !== undefined && networkNamespaceOf(pid) !== own) continue;
    const workerId = tag.slice(prefix.length);
    found.push({ ...before, workerId, tag });
  }
  return found;
}

export interface KillClusterWorkersOptions extends FindWorkersOptions {
  /** SIGTERM first, SIGKILL after this; 0 sends SIGKILL at once. */
  graceMs: number;
}

function networkNamespaceOf(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/**
 * Stops every worker process of the cluster still running (the last resort of `npm start`, after
 * the orchestrator that should have stopped them is gone). Resolves with those it found.
 */
export async function killClusterWorkers(cluster: string, options: KillClusterWorkersOptions): Promise<WorkerProcess[]> {
  const workers = findClusterWorkers(cluster, options);
  await Promise.all(
    workers.map((worker) => {
      // Alive while the process is (pid and start time), not while its tag shows: a process on its
      // way out has lost its argv in /proc but still holds its files and sockets.
      const alive = () => isSameProcess(worker);
      if (options.graceMs > 0) return terminate({ signal: (signal) => signalWorker(worker, signal), alive, graceMs: options.graceMs });
      signalWorker(worker, 'SIGKILL');
      return waitFor(() => !alive(), 5000);
    }),
  );
  return workers;
}
