/**
 * What the fault harness learns from /proc rather than from the service under test: whether a
 * pid is alive or frozen, which processes belong to a test cluster (so none outlives the test),
 * and which TCP connections a process holds (so one worker's broker link can be singled out in
 * a proxy every process goes through).
 */
import fs from 'node:fs';

/** The state letter of /proc/PID/stat (R, S, D, T, Z…), or undefined when the pid is gone. */
export function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie: a SIGKILLed orphan lingers as a zombie until init reaps it. */
export function isAlive(pid: number): boolean {
  const state = procState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** Alive and not stopped: a SIGSTOPped worker still holds its znode but serves nobody. */
export function isRunning(pid: number): boolean {
  const state = procState(pid);
  return state !== undefined && !['Z', 'X', 'T', 't'].includes(state);
}

/** 'sent', 'already gone', or the error: the outcome is evidence for the fault record. */
export function signal(pid: number, name: NodeJS.Signals): string {
  try {
    process.kill(pid, name);
    return 'sent';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH' ? 'already gone' : String(error);
  }
}

function environOf(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

export interface ClusterProcess {
  pid: number;
  /**
   * What its command line runs: a worker, an orchestrator, or a helper one of them started and
   * that inherited its environment (tsx's esbuild service).
   */
  kind: 'worker' | 'orchestrator' | 'helper';
  /** The role the worker was started in (a promoted slave still says 'slave'). */
  role?: string;
  workerId?: string;
}

function commandOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

interface WorkerIdentity {
  cluster?: string;
  role?: string;
  workerId?: string;
}

/**
 * A worker's identity from its environment: one JSON document (RIDESHARE_WORKER_SETTINGS) in
 * this version of the runtime, separate variables (RIDESHARE_CLUSTER, WORKER_ROLE, WORKER_ID)
 * in earlier ones. Either way the harness finds a cluster's workers without asking the service.
 */
function identityOf(environ: string[]): WorkerIdentity {
  const value = (name: string) => environ.find((entry) => entry.startsWith(`${name}=`))?.slice(name.length + 1);
  const settings = value('RIDESHARE_WORKER_SETTINGS');
  if (settings) {
    try {
      const parsed = JSON.parse(settings) as { cluster?: unknown; role?: unknown; workerId?: unknown };
      return { cluster: String(parsed.cluster), role: String(parsed.role), workerId: String(parsed.workerId) };
    } catch {
      // unreadable: fall back to the separate variables
    }
  }
  const [cluster, role, workerId] = [value('RIDESHARE_CLUSTER'), value('WORKER_ROLE'), value('WORKER_ID')];
  return { ...(cluster ? { cluster } : {}), ...(role ? { role } : {}), ...(workerId ? { workerId } : {}) };
}

/**
 * Every live process started for `cluster`: orchestrators get RIDESHARE_CLUSTER from the harness
 * and workers get the cluster from their runtime (and inherit the orchestrator's environment),
 * so the environment names them all, whoever started them and whether or not ZooKeeper still
 * lists them.
 */
export function clusterProcesses(cluster: string): ClusterProcess[] {
  const found: ClusterProcess[] = [];
  for (const pid of allPids()) {
    const environ = environOf(pid);
    const identity = identityOf(environ);
    if ((identity.cluster !== cluster && !environ.includes(`RIDESHARE_CLUSTER=${cluster}`)) || !isAlive(pid)) continue;
    const command = commandOf(pid);
    const kind = /--rideshare-worker=|worker\/main\.[jt]s/.test(command) ? 'worker' : /orchestrator\/main\.[jt]s/.test(command) ? 'orchestrator' : 'helper';
    found.push({ pid, kind, ...(identity.role ? { role: identity.role } : {}), ...(identity.workerId ? { workerId: identity.workerId } : {}) });
  }
  return found;
}

/** SIGKILLs every process of the cluster still alive (groups first: a worker's tsx loader too). */
export function killCluster(cluster: string): ClusterProcess[] {
  const left = clusterProcesses(cluster);
  for (const proc of left) {
    signal(-proc.pid, 'SIGKILL');
    signal(proc.pid, 'SIGKILL');
  }
  return left;
}

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/**
 * The local ports of `pid`'s TCP connections to `remotePort` on loopback: the ports a proxy
 * listening on `remotePort` sees as its clients' ports. /proc/net/tcp is the kernel's table of
 * every socket; the pid's fds say which of them are its own.
 */
export function connectionPorts(pid: number, remotePort: number): number[] {
  const inodes = socketInodes(pid);
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [local, remote, inode] = [fields[1], fields[2], fields[9]];
      if (!local || !remote || !inode || !inodes.has(inode)) continue;
      if (parseInt(remote.split(':')[1] ?? '', 16) !== remotePort) continue;
      ports.push(parseInt(local.split(':')[1] ?? '', 16));
    }
  }
  return ports;
}
