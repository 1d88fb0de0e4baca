/**
 * Restore: a backup becomes the data of a new cluster. The backup is checked (backup-file.ts, and
 * its manifest when there is one), copied (never moved: the backup stays where it is) into
 * DATA_DIR/workers under another name, verified, renamed, and a restore record is written last
 * (src/dbaas/supervisor/cluster-files.ts). The next start of the cluster (src/dbaas/supervisor/cluster-bootstrap.ts)
 * treats the DATA_DIR as a new cluster (old znodes and queues of that cluster name are cleared)
 * whose master starts from the installed copy, as in a cold start from files.
 *
 * Nothing is ever deleted: a DATA_DIR that already holds a cluster's data is refused, and with
 * `force` that data is moved aside into DATA_DIR/replaced-<time>/ first. A running cluster is
 * refused even with `force`.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../shared/private-files.ts';
import { withTimeout } from '../../shared/timeout.ts';
import { listOrchestrators } from '../coordination/orchestrator-registry.ts';
import { listWorkers } from '../coordination/worker-registry.ts';
import { ZkClient } from '../coordination/ZkClient.ts';
import { findClusterWorkers } from '../runtime/worker-processes.ts';
import { clusterMarkerOf, restoreRecordPath, writePendingRestore, type PendingRestore } from '../supervisor/cluster-files.ts';
import { workerFileOwners, workersDirOf } from '../worker/files.ts';
import { manifestPathOf, manifestSchema, type BackupManifest } from './backup-format.ts';
import { inspectBackup, InvalidBackupError, sha256OfFile, type InspectedBackup } from './backup-file.ts';

/** The DATA_DIR holds a cluster, or the cluster runs: restoring now would lose or mix data. */
export class RestoreRefusedError extends RideShareError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

export interface InstallOptions {
  backupFile: string;
  dataDir: string;
  /** Move a cluster's data found in DATA_DIR aside instead of refusing. */
  force?: boolean;
  logger?: Logger;
}

export interface Installed extends InspectedBackup {
  /** The installed copy. */
  file: string;
  manifest: BackupManifest | undefined;
  /** Where the data found in DATA_DIR went (force only). */
  movedAside?: string;
}

/** Checks the backup and installs a copy of it as the data of the next start of the cluster in `dataDir`. */
export async function installBackup(options: InstallOptions): Promise<Installed> {
  const source = path.resolve(options.backupFile);
  const manifest = readManifest(source);
  const inspected = await inspectBackup(source, manifest);
  const dataDir = path.resolve(options.dataDir);
  const found = clusterDataIn(dataDir);
  let movedAside: string | undefined;
  if (found.length > 0) {
    if (!options.force) {
      throw new RestoreRefusedError(`${dataDir} already holds a cluster's data (${found.join(', ')}); restore into an empty DATA_DIR, or add --force to move that data aside (nothing is deleted)`);
    }
    movedAside = moveAside(dataDir, found);
    options.logger?.warn({ movedAside, moved: found }, 'moved the data found in DATA_DIR aside');
  }
  const workersDir = workersDirOf(dataDir);
  fs.mkdirSync(workersDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const name = `restored-${randomBytes(4).toString('hex')}.db`;
  const target = path.join(workersDir, name);
  await copyVerified(source, target, inspected.sha256);
  const record: PendingRestore = {
    file: name,
    from: source,
    seq: inspected.seq,
    epoch: inspected.epoch,
    sha256: inspected.sha256,
    size: inspected.size,
    ...(manifest ? { takenFrom: manifest.cluster } : {}),
    installedAt: new Date().toISOString(),
  };
  writePendingRestore(dataDir, record);
  options.logger?.info({ from: source, installed: target, seq: inspected.seq, epoch: inspected.epoch, rows: inspected.rows }, 'backup installed; the next start begins from it');
  return { ...inspected, file: target, manifest, ...(movedAside ? { movedAside } : {}) };
}

/**
 * RESTORE_FROM: installs the backup when the cluster's DATA_DIR holds no cluster yet (the first
 * start), and does nothing otherwise. Returns what it installed.
 */
export async function restoreOnFirstStart(options: { backupFile: string; dataDir: string; logger: Logger }): Promise<Installed | undefined> {
  const found = clusterDataIn(path.resolve(options.dataDir));
  if (found.length > 0) {
    options.logger.info({ restoreFrom: options.backupFile, found }, 'RESTORE_FROM ignored: DATA_DIR already holds the cluster');
    return undefined;
  }
  return installBackup({ backupFile: options.backupFile, dataDir: options.dataDir, logger: options.logger });
}

/** What in `dataDir` belongs to a cluster: its marker, a pending restore, workers' database files. */
export function clusterDataIn(dataDir: string): string[] {
  const found: string[] = [];
  if (fs.existsSync(clusterMarkerOf(dataDir))) found.push(path.basename(clusterMarkerOf(dataDir)));
  if (fs.existsSync(restoreRecordPath(dataDir))) found.push(path.basename(restoreRecordPath(dataDir)));
  const owners = workerFileOwners(workersDirOf(dataDir));
  if (owners.length > 0) found.push(`${owners.length} worker file(s) in workers/`);
  return found;
}

export interface RunningCheck {
  cluster: string;
  /** ZooKeeper to ask for the cluster's live workers and orchestrators, when known. */
  zkConnect?: string;
  /** Orchestrators to ask which cluster they serve (GET /api/v1/cluster). */
  orchestratorUrls?: string[];
}

/**
 * Refuses when the cluster runs: worker processes of it on this machine (by their tag), live
 * workers or orchestrators of it in ZooKeeper, or an orchestrator answering for it.
 */
export async function ensureClusterStopped(check: RunningCheck): Promise<void> {
  const running: string[] = [];
  const processes = findClusterWorkers(check.cluster);
  if (processes.length > 0) running.push(`worker processes ${processes.map((worker) => worker.pid).join(', ')} on this machine`);
  if (check.zkConnect) running.push(...(await registeredInZooKeeper(check.cluster, check.zkConnect)));
  for (const url of check.orchestratorUrls ?? []) {
    if (await servesCluster(url, check.cluster)) running.push(`the orchestrator at ${url}`);
  }
  if (running.length > 0) {
    throw new RestoreRefusedError(`cluster '${check.cluster}' is running (${running.join('; ')}); stop it before restoring`);
  }
}

async function registeredInZooKeeper(cluster: string, connect: string): Promise<string[]> {
  const zk = new ZkClient({ connect, sessionTimeoutMs: 4000, operationTimeoutMs: 3000 });
  try {
    await zk.connect();
    const [workers, orchestrators] = await Promise.all([listWorkers(zk, cluster), listOrchestrators(zk, cluster)]);
    const found: string[] = [];
    if (workers.length > 0) found.push(`${workers.length} live worker(s) in ZooKeeper`);
    if (orchestrators.length > 0) found.push(`${orchestrators.length} orchestrator(s) in ZooKeeper`);
    return found;
  } catch (error) {
    throw new RestoreRefusedError(`cannot tell whether cluster '${cluster}' is running: ZooKeeper at ${connect}: ${(error as Error).message}`);
  } finally {
    zk.close();
  }
}

async function servesCluster(url: string, cluster: string): Promise<boolean> {
  try {
    const response = await withTimeout(fetch(`${url}/api/v1/cluster`, { signal: AbortSignal.timeout(1500) }), 2000, 'TIMEOUT', `${url} did not answer`);
    if (!response.ok) return false;
    const body = (await response.json()) as { cluster?: unknown };
    return body.cluster === cluster;
  } catch {
    // Nothing listening there (or something else): not this cluster's orchestrator.
    return false;
  }
}

function readManifest(source: string): BackupManifest | undefined {
  const file = manifestPathOf(source);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InvalidBackupError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InvalidBackupError(`${file} is not JSON`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new InvalidBackupError(`${file} is not a backup manifest: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** Renames (never deletes) what was found into DATA_DIR/replaced-<time>/. */
function moveAside(dataDir: string, found: string[]): string {
  const aside = path.join(dataDir, `replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(aside, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const entry of [clusterMarkerOf(dataDir), restoreRecordPath(dataDir), workersDirOf(dataDir)]) {
    if (fs.existsSync(entry)) fs.renameSync(entry, path.join(aside, path.basename(entry)));
  }
  if (found.length > 0) fs.writeFileSync(path.join(aside, 'README'), `Moved aside by a restore on ${new Date().toISOString()}: ${found.join(', ')}.\n`, { mode: PRIVATE_FILE_MODE });
  return aside;
}

/** Copied under a partial name, synced, checked against the backup's SHA-256, then renamed. */
async function copyVerified(source: string, target: string, sha256: string): Promise<void> {
  const partial = `${target}.partial`;
  try {
    await fs.promises.copyFile(source, partial);
    // copyFile copies the backup's mode too: the installed copy is the cluster's, 0600 whatever the backup's is.
    await fs.promises.chmod(partial, PRIVATE_FILE_MODE);
    const handle = await fs.promises.open(partial, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    const copied = await sha256OfFile(partial);
    if (copied !== sha256) throw new RideShareError('INTEGRITY', `the copy of ${source} has SHA-256 ${copied}, not ${sha256}: the disk or the file changed while copying`);
    fs.renameSync(partial, target);
    syncDirectory(path.dirname(target));
  } catch (error) {
    fs.rmSync(partial, { force: true });
    throw error;
  }
}

function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
