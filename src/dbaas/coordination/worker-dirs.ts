/**
 * Where the cluster's worker files live. Each supervisor keeps its workers' SQLite files in its own
 * DATA_DIR, and a standby may take over with a DATA_DIR of its own, so after a takeover the files
 * of one cluster lie in several folders, perhaps on several hosts. A restart from files must see
 * all of them (the most advanced may be in any), so every supervisor records its folder here,
 * persistently, before it starts a worker there.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { clusterPaths } from '../protocol/names.ts';
import { CreateMode, isZkError, ZkErrorCode, type ZkClient } from './ZkClient.ts';

export interface WorkerDir {
  /** The host's name as the operating system gives it. */
  host: string;
  /** The absolute path of the folder on that host. */
  dir: string;
}

export const workerDirsRecord = z.looseObject({
  dirs: z.array(z.looseObject({ host: z.string().min(1).max(255), dir: z.string().min(1).max(4096) })).max(1000),
});

/** This host's folder `dir`, as recorded. */
export function localWorkerDir(dir: string): WorkerDir {
  return { host: os.hostname(), dir: path.resolve(dir) };
}

export function sameWorkerDir(a: WorkerDir, b: WorkerDir): boolean {
  return a.host === b.host && a.dir === b.dir;
}

/** The recorded folders (none when nothing was recorded yet). */
export async function readWorkerDirs(zk: ZkClient, cluster: string): Promise<WorkerDir[]> {
  const node = await zk.readNodeIfExists(clusterPaths(cluster).workerDirs, workerDirsRecord);
  return node?.data?.dirs ?? [];
}

/** Adds `dir` to the record (a versioned update, so two supervisors never lose each other's folder). */
export async function recordWorkerDir(zk: ZkClient, cluster: string, dir: WorkerDir): Promise<void> {
  await updateWorkerDirs(zk, cluster, (dirs) => (dirs.some((known) => sameWorkerDir(known, dir)) ? undefined : [...dirs, dir]));
}

/**
 * After a restart from files took the most advanced file of every recorded folder into `dir`,
 * only `dir` can hold the cluster's newest data.
 */
export async function keepOnlyWorkerDir(zk: ZkClient, cluster: string, dir: WorkerDir): Promise<void> {
  await updateWorkerDirs(zk, cluster, (dirs) => (dirs.length === 1 && dirs[0] && sameWorkerDir(dirs[0], dir) ? undefined : [dir]));
}

async function updateWorkerDirs(zk: ZkClient, cluster: string, change: (dirs: WorkerDir[]) => WorkerDir[] | undefined): Promise<void> {
  const nodePath = clusterPaths(cluster).workerDirs;
  for (;;) {
    const node = await zk.readNodeIfExists(nodePath, workerDirsRecord);
    const next = change(node?.data?.dirs ?? []);
    if (!next) return;
    try {
      if (node) await zk.setData(nodePath, { dirs: next }, node.version);
      else {
        await zk.ensurePath(path.posix.dirname(nodePath));
        await zk.create(nodePath, { dirs: next }, CreateMode.PERSISTENT);
      }
      return;
    } catch (error) {
      // Another supervisor changed it meanwhile: read it again.
      if (!isZkError(error, ZkErrorCode.BAD_VERSION) && !isZkError(error, ZkErrorCode.NODE_EXISTS)) throw error;
    }
  }
}
