/**
 * Before a restart from files: the master about to start takes the most advanced file of its own
 * folder (src/dbaas/worker/recovery.ts), so the most advanced file of the whole cluster must be
 * there first. Every folder a supervisor of the cluster ever kept workers in is recorded in
 * ZooKeeper (src/dbaas/coordination/worker-dirs.ts); the best file among them is copied into this
 * supervisor's folder. A recorded folder this host cannot read might hold newer acknowledged
 * writes, so the restart is refused, saying which folder and what to do, rather than started from
 * a file that may lag behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../shared/logger.ts';
import { keepOnlyWorkerDir, localWorkerDir, readWorkerDirs, sameWorkerDir, type WorkerDir } from '../coordination/worker-dirs.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import { copyDatabaseFile, mostAdvancedFile, type Candidate } from '../worker/recovery.ts';
import { RestartRefusedError } from './restart-refused.ts';

export interface RestartSourceOptions {
  zk: ZkClient;
  cluster: string;
  /** This supervisor's workers' folder, where the new master will look. */
  workersDir: string;
  logger: Logger;
}

/** Brings the cluster's most advanced file into `workersDir`; throws when a recorded folder cannot be read from here. */
export async function gatherRestartSources(options: RestartSourceOptions): Promise<void> {
  const own = localWorkerDir(options.workersDir);
  const foreign = (await readWorkerDirs(options.zk, options.cluster)).filter((dir) => !sameWorkerDir(dir, own));
  const unreachable = foreign.filter((dir) => dir.host !== os.hostname() || !fs.existsSync(dir.dir));
  if (unreachable.length > 0) throw new UnreachableWorkerDirError(unreachable, own);
  const best = foreign
    .map((dir) => mostAdvancedFile(dir.dir))
    .filter((candidate): candidate is Candidate => candidate !== undefined)
    .sort(byAdvance)[0];
  const ownBest = mostAdvancedFile(own.dir);
  if (!best || (ownBest && byAdvance(ownBest, best) <= 0)) return;
  const target = path.join(own.dir, `restart-from-${path.basename(best.file)}`);
  await copyDatabaseFile(best.file, target);
  options.logger.warn(
    { from: best.file, seq: best.appliedSeq, epoch: best.epoch, ownSeq: ownBest?.appliedSeq, ownEpoch: ownBest?.epoch },
    'the most advanced worker file was in another supervisor\u2019s folder: copied here for the restart from files',
  );
}

/** Once a master runs from the best file, this folder alone holds the cluster's newest data. */
export async function restartSourcesUsed(options: RestartSourceOptions): Promise<void> {
  await keepOnlyWorkerDir(options.zk, options.cluster, localWorkerDir(options.workersDir));
}

function byAdvance(a: Candidate, b: Candidate): number {
  return b.epoch - a.epoch || b.appliedSeq - a.appliedSeq;
}

export class UnreachableWorkerDirError extends RestartRefusedError {
  constructor(dirs: WorkerDir[], own: WorkerDir) {
    const list = dirs.map((dir) => `${dir.dir} on ${dir.host}`).join(', ');
    super(
      `worker files of this cluster were kept in ${list}, which this orchestrator (${own.host}) cannot read, ` +
        `and they may hold newer acknowledged writes than ${own.dir}. Start an orchestrator of the cluster where that folder is, or copy its *.db files into ${own.dir}; ` +
        'if the folder is gone for good and its writes are given up, create it empty (the restart then also asks for the missing writes to be given up, if the files here are behind the commit record).',
    );
  }
}
