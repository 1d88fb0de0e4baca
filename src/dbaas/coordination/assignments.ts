/**
 * Where each worker runs, when workers are placed on hosts through their agents. The supervisor
 * writes one persistent node per worker, `assignments/<workerId>`: the host that runs it, its role
 * and why it was started, and, once it is to go, how to stop it. Each host's agent writes one
 * ephemeral node, `agents/<host>`: which workers run on that host now (with their pids), the
 * last exits it saw, and the position of the most advanced worker file in the host's folder (where
 * a master restarted from files must start: restart-host.ts). No orchestrator reaches a process on another host: the supervisor writes,
 * the host's agent acts and reports. Nothing secret is written here (every orchestrator builds a
 * worker's settings from its own), since anyone who reaches ZooKeeper may read the cluster's
 * nodes; only the cluster's credentials may write them (zk-acl.ts).
 */
import { z } from 'zod';
import { clusterPaths } from '../protocol/names.ts';
import { CreateMode, isZkError, ZkErrorCode, type ZkClient, type ZkWatcher } from './ZkClient.ts';

/** A host's name as agents and assignments use it: a znode name, so a short plain word. */
export const hostName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a host name is 1-63 letters, digits, dots, dashes or underscores');

const workerId = z.string().min(1).max(200);
const pid = z.number().int().min(1);

export const assignmentRecord = z.looseObject({
  host: hostName,
  role: z.enum(['master', 'slave']),
  reason: z.string().max(100),
  /** A master restarted from the files: the agent's own workers' folder holds the best file. */
  fromFiles: z.boolean().optional(),
  /** Set when the worker is to go: SIGKILL at once, or SIGTERM then SIGKILL after graceMs. */
  stop: z.looseObject({ signal: z.enum(['SIGKILL', 'SIGTERM']), graceMs: z.number().int().min(0).max(600_000).optional() }).optional(),
});
export type Assignment = z.infer<typeof assignmentRecord>;

export const workerExitRecord = z.looseObject({
  workerId,
  /** 0 when the worker never started (its start failed on the host). */
  pid: z.number().int().min(0),
  code: z.number().int().nullable(),
  signal: z.string().max(20).nullable(),
});

export const agentReportRecord = z.looseObject({
  host: hostName,
  orchestratorId: z.string().min(1).max(200),
  pid,
  /**
   * False while the agent is taking over (adopting the host's workers): its list is not yet the
   * host's, so nothing is concluded from it; the host counts as unreachable meanwhile.
   */
  settled: z.boolean(),
  running: z.array(z.looseObject({ workerId, pid })).max(10_000),
  /** The last exits the agent saw, newest last: how the supervisor learns a worker's exit code. */
  exits: z.array(workerExitRecord).max(1000),
  /** The most advanced worker file in the host's folder as it was at the report (none: no readable file). */
  bestFile: z.looseObject({ workerId, epoch: z.number().int().min(0), appliedSeq: z.number().int().min(0) }).optional(),
});
export type AgentReport = z.infer<typeof agentReportRecord>;
/** A host's best worker file, as its agent reports it. */
export type HostFile = NonNullable<AgentReport['bestFile']>;

/** How many exits an agent's report keeps: enough for a burst of deaths between two reads. */
export const REPORTED_EXITS = 50;

export async function writeAssignment(zk: ZkClient, cluster: string, id: string, assignment: Assignment): Promise<void> {
  const paths = clusterPaths(cluster);
  await zk.ensurePath(paths.assignments);
  await zk.create(paths.assignmentNode(id), assignment, CreateMode.PERSISTENT);
}

export async function readAssignment(zk: ZkClient, cluster: string, id: string, watcher?: ZkWatcher): Promise<Assignment | undefined> {
  return (await zk.readNodeIfExists(clusterPaths(cluster).assignmentNode(id), assignmentRecord, watcher))?.data;
}

/** Asks the worker's host to stop it; false when the worker has no assignment (nothing to stop). */
export async function requestStop(zk: ZkClient, cluster: string, id: string, stop: NonNullable<Assignment['stop']>): Promise<boolean> {
  const current = await readAssignment(zk, cluster, id);
  if (!current) return false;
  try {
    await zk.setData(clusterPaths(cluster).assignmentNode(id), { ...current, stop });
    return true;
  } catch (error) {
    if (isZkError(error, ZkErrorCode.NO_NODE)) return false;
    throw error;
  }
}

export async function removeAssignment(zk: ZkClient, cluster: string, id: string): Promise<void> {
  await zk.removeIfExists(clusterPaths(cluster).assignmentNode(id));
}

export function listAssignmentIds(zk: ZkClient, cluster: string, watcher?: ZkWatcher): Promise<string[]> {
  return zk.getChildrenIfExists(clusterPaths(cluster).assignments, watcher);
}

export function listAgentHosts(zk: ZkClient, cluster: string, watcher?: ZkWatcher): Promise<string[]> {
  return zk.getChildrenIfExists(clusterPaths(cluster).agents, watcher);
}

export async function readAgentReport(zk: ZkClient, cluster: string, host: string, watcher?: ZkWatcher): Promise<AgentReport | undefined> {
  return (await zk.readNodeIfExists(clusterPaths(cluster).agentNode(host), agentReportRecord, watcher))?.data;
}
