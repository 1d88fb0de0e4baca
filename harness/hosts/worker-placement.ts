/**
 * Where the database's workers run on a bed's deployment, and what their replicas hold: the
 * supervisor's own status (`GET /api/v1/cluster` of the db host's orchestrator, open to anyone)
 * gives each worker's pid and role, and the host is the one whose namespace holds that pid (the
 * bed's hosts share one machine's processes). Each host's agent keeps its workers' files in its
 * own DATA_DIR, so a replica is read from whichever host has it.
 */
import { existsSync } from 'node:fs';
import { workerDbFile, workersDirOf } from '../../src/dbaas/worker/files.ts';
import { readReplica, type ReplicaContent } from '../replicas.ts';
import type { GatewayRequests } from './gateway-requests.ts';
import type { HostDeployment } from './host-deployment.ts';
import type { TestBed } from './TestBed.ts';

const ORCHESTRATOR_PORT = 8000;

export interface PlacedWorker {
  workerId: string;
  pid: number;
  role: 'master' | 'slave';
  ready: boolean;
  appliedSeq: number;
  /** The bed host whose namespace runs it; undefined for a pid no host holds (gone meanwhile). */
  host: string | undefined;
}

/** The workers the supervisor lists, each with its host; undefined when the orchestrator does not answer. */
export async function placedWorkers(bed: TestBed, requests: GatewayRequests, from: string, supervisorHost: string): Promise<PlacedWorker[] | undefined> {
  const [answer] = await requests.send(from, [{ url: `http://${bed.address(supervisorHost)}:${ORCHESTRATOR_PORT}/api/v1/cluster` }]);
  if (answer?.status !== 200) return undefined;
  const { workers } = JSON.parse(answer.body) as { workers: Omit<PlacedWorker, 'host'>[] };
  const hostOf = new Map(bed.hosts.flatMap((host) => bed.pids(host.name).map((pid) => [pid, host.name] as const)));
  return workers.map((worker) => ({ workerId: worker.workerId, pid: worker.pid, role: worker.role, ready: worker.ready, appliedSeq: worker.appliedSeq, host: hostOf.get(worker.pid) }));
}

/** `master@db, slave@rides, …`, master first: what a failed check prints. */
export function describePlacement(workers: readonly PlacedWorker[]): string {
  return workers.map((worker) => `${worker.role}@${worker.host ?? '?'}${worker.ready ? '' : '(not ready)'}`).join(', ');
}

/** Each listed worker's replica, read from the DATA_DIR of the host that has its file. */
export function replicasOnHosts(deployment: HostDeployment, workerIds: readonly string[]): ReplicaContent[] {
  const dirs = [...deployment.dataDirs.values()].map(workersDirOf);
  return workerIds.flatMap((workerId) => {
    const file = dirs.map((dir) => workerDbFile(dir, workerId)).find((candidate) => existsSync(candidate));
    return file === undefined ? [] : [readReplica(file)];
  });
}
