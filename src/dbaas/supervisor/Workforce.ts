/**
 * Launching, adopting and stopping the cluster's workers through the worker runtime, and
 * remembering why each one stopped. Every worker the supervisor acts on passes through here:
 * a start (until the worker is ready), an adoption (the workers a previous supervisor left
 * running), a kill (with its reason, for the exit event), a retirement (an intended stop, never
 * taken for a crash). What to start or stop is the supervisor's and the failover's decision.
 */
import { randomBytes } from 'node:crypto';
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { sleep, withTimeout } from '../../shared/timeout.ts';
import type { ExitReason, StartReason } from '../coordination/ClusterHistory.ts';
import { clearMasterLease } from '../coordination/master-lease.ts';
import { forgetWorker, readWorker, type WorkerInfo } from '../coordination/worker-registry.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import type { WorkerExit, WorkerHandle, WorkerRuntime } from '../runtime/WorkerRuntime.ts';
import type { ClusterSettings } from '../settings/ClusterSettings.ts';
import type { WorkerTuning } from '../settings/WorkerTuning.ts';
import type { WorkerSettings } from '../worker/WorkerSettings.ts';
import { removeWorkerFiles, workerDbFile, workersDirOf } from '../worker/files.ts';
import type { SupervisionJournal } from './SupervisionJournal.ts';
import type { HostFile } from '../coordination/assignments.ts';

const DEFAULT_READY_TIMEOUT_MS = 60_000;
/** How long a best-effort kill waits for the runtime to confirm the worker gone. */
const KILL_CONFIRM_TIMEOUT_MS = 5000;

export interface WorkforceOptions extends ClusterSettings {
  runtime: WorkerRuntime;
  /** Pinned to the session that holds the supervisor lease (Leadership.ts). */
  zk: ZkClient;
  /** Where this supervisor's workers keep their SQLite files. */
  workersDir: string;
  workerTuning: WorkerTuning;
  readyTimeoutMs?: number;
  journal: SupervisionJournal;
  logger: Logger;
}

/** A worker's exit as the supervisor tells it: why, and whether it was meant (a retirement). */
export interface ToldExit {
  reason: ExitReason;
  retired: boolean;
}

/** What a worker's settings are made of on the host that starts it. */
export type WorkerSettingsSource = ClusterSettings & Pick<WorkforceOptions, 'workerTuning' | 'workersDir'>;

/** Everything a new worker is told: the cluster's tuning, its file in `workersDir`, where the servers are. */
export function workerSettingsFor(source: WorkerSettingsSource, workerId: string, role: 'master' | 'slave', recoverDir?: string): WorkerSettings {
  return {
    ...source.workerTuning,
    workerId,
    role,
    dbFile: workerDbFile(source.workersDir, workerId),
    ...(recoverDir ? { recoverDir } : {}),
    cluster: source.cluster,
    amqpUrl: source.amqpUrl,
    zkConnect: source.zkConnect,
    clusterKey: source.clusterKey,
    zkAuth: source.zkAuth,
  };
}

/**
 * How a host's agent tells the workers it starts for the supervisor: from its own setup (its own
 * folder, addresses and credentials), a master from files recovering from its own folder.
 */
export function hostWorkerSettings(setup: Omit<WorkerSettingsSource, 'workersDir'> & { dataDir: string }): (workerId: string, role: 'master' | 'slave', fromFiles: boolean) => WorkerSettings {
  const source = { ...setup, workersDir: workersDirOf(setup.dataDir) };
  return (workerId, role, fromFiles) => workerSettingsFor(source, workerId, role, fromFiles ? source.workersDir : undefined);
}

export class Workforce {
  /** Workers started (or adopted unregistered) but not yet ready: they count toward the desired slaves. */
  private readonly starting = new Set<string>();
  /** Workers being stopped on purpose: their exit is not a crash. */
  private readonly intendedStops = new Set<string>();
  /** Workers being drained and stopped right now: no longer counted as slaves. */
  private readonly retiring = new Set<string>();
  /** Why this supervisor killed a worker, for its exit event; an exit without one is a crash. */
  private readonly killReasons = new Map<string, ExitReason>();
  /** Workers a best-effort kill could not make sure of (the warning is logged once each). */
  private readonly unconfirmedKills = new Set<string>();

  constructor(private readonly options: WorkforceOptions) {}

  /** The workers running in the runtime now (read synchronously: one consistent view). */
  running(): WorkerHandle[] {
    return this.options.runtime.list();
  }

  isRunning(workerId: string): boolean {
    return this.running().some((worker) => worker.workerId === workerId);
  }

  /** Started or adopted, not yet ready. */
  isStarting(workerId: string): boolean {
    return this.starting.has(workerId);
  }

  startingIds(): ReadonlySet<string> {
    return this.starting;
  }

  isRetiring(workerId: string): boolean {
    return this.retiring.has(workerId);
  }

  /** Being stopped on purpose: neither a worker that lost its session nor a crash. */
  isStopping(workerId: string): boolean {
    return this.intendedStops.has(workerId);
  }

  /**
   * Every action of a supervisor is taken under the lease it holds at that moment. The lease is
   * an ephemeral znode of the session this supervisor was started in (its ZooKeeper client is
   * pinned to it, src/dbaas/coordination/ZkClient.ts): once that session is lost, or while it is
   * disconnected and may be expiring, another orchestrator may supervise, so nothing is killed,
   * started or deleted; the pass stops here and the term ends (Leadership.ts).
   */
  assertLeaseHeld(action: string): void {
    if (!this.options.zk.holdsSession()) throw new RideShareError('LEASE_LOST', `not supervising under a live lease: will not ${action}`);
  }

  /**
   * Takes over every running worker of the cluster (Supervisor.start on a takeover or restart).
   * A worker the previous supervisor started a moment before it died may not have registered
   * yet: it counts as starting (neither killed as session-less nor doubled by a new start) until
   * it is ready, or is killed if it is not ready in time; `settled` is told when it is either.
   */
  async adopt(registered: ReadonlySet<string>, settled: () => void): Promise<WorkerHandle[]> {
    const adopted = await this.options.runtime.adopt();
    this.options.logger.info({ workers: adopted.map((worker) => worker.pid) }, 'adopted the running workers');
    for (const handle of adopted) if (!registered.has(handle.workerId)) this.awaitAdopted(handle, settled);
    return adopted;
  }

  private awaitAdopted(handle: WorkerHandle, settled: () => void): void {
    this.starting.add(handle.workerId);
    this.waitReady(handle)
      .catch((error: unknown) => this.options.logger.warn({ err: error, workerId: handle.workerId }, 'an adopted worker never became ready'))
      .finally(() => {
        this.starting.delete(handle.workerId);
        settled();
      });
  }

  /**
   * A cold start restarts from the files: a worker of the cluster still running unregistered (its
   * session expired, it is on its way out) must not write to its file or hold writeQ meanwhile.
   */
  async killStale(): Promise<void> {
    await this.options.runtime.adopt();
    for (const worker of this.running()) {
      this.options.logger.warn({ workerId: worker.workerId, pid: worker.pid }, 'killing an unregistered worker before the restart from files');
      await this.kill(worker.workerId, 'stale');
    }
  }

  /**
   * Starts a worker and resolves once it reports ready (a slave: caught up and serving); `host`
   * places it there when the runtime places workers on hosts.
   */
  async start(role: 'master' | 'slave', reason: StartReason, recoverDir?: string, host?: string): Promise<WorkerHandle> {
    const handle = await this.launch(role, reason, recoverDir, host);
    try {
      await this.waitReady(handle);
    } finally {
      this.starting.delete(handle.workerId);
    }
    return handle;
  }

  /** A slave the caller does not wait for (a reconcile pass goes on); `failed` is told if it never becomes ready. */
  async startSlaveInBackground(reason: StartReason, failed: () => void): Promise<void> {
    try {
      await this.start('slave', reason);
    } catch (error) {
      this.options.logger.error({ err: error }, 'a new slave did not become ready');
      failed();
    }
  }

  /** Kills a worker and remembers why, for its exit event. */
  async kill(workerId: string, reason: ExitReason): Promise<void> {
    this.assertLeaseHeld(`kill ${workerId}`);
    this.killReasons.set(workerId, reason);
    await this.options.runtime.kill(workerId, 'SIGKILL');
  }

  /**
   * A kill that nothing waits on for safety: a worker that lost its session, or an old master
   * (its successor's new epoch fences it in ZooKeeper, src/dbaas/coordination/commit-record.ts).
   * A runtime that cannot kill it (a host out of reach) or does not confirm within
   * KILL_CONFIRM_TIMEOUT_MS is logged, and the caller goes on. True when the worker is gone.
   */
  async killBestEffort(workerId: string, reason: ExitReason): Promise<boolean> {
    this.assertLeaseHeld(`kill ${workerId}`);
    this.killReasons.set(workerId, reason);
    const killed = this.options.runtime.kill(workerId, 'SIGKILL');
    try {
      await withTimeout(killed, KILL_CONFIRM_TIMEOUT_MS, 'TIMEOUT', `the runtime did not confirm worker ${workerId} killed`);
      return true;
    } catch (error) {
      // A kill confirmed late, or failing late, changes nothing any more.
      killed.catch(() => undefined);
      // Every pass tries again: told once, then quietly.
      const firstTime = !this.unconfirmedKills.has(workerId);
      this.unconfirmedKills.add(workerId);
      this.options.logger[firstTime ? 'warn' : 'debug']({ err: error, workerId, reason }, 'could not make sure the worker is gone; going on without');
      return false;
    }
  }

  /** Stops a worker on purpose (scale-in): recorded first, so its exit is never taken for a crash. */
  async retire(workerId: string): Promise<void> {
    this.assertLeaseHeld(`retire ${workerId}`);
    this.intendedStops.add(workerId);
    this.retiring.add(workerId);
    try {
      await this.options.runtime.stop(workerId);
      await forgetWorker(this.options.zk, this.options.cluster, workerId);
      removeWorkerFiles(this.options.workersDir, workerId);
    } finally {
      this.retiring.delete(workerId);
    }
  }

  /** Scale-in of one slave, drained (reads in flight answered), that the caller does not wait for; a failure is logged. */
  async retireInBackground(worker: WorkerInfo): Promise<void> {
    this.options.logger.info({ workerId: worker.workerId, pid: worker.pid }, 'scaling in: draining and stopping a slave');
    try {
      await this.retire(worker.workerId);
    } catch (error) {
      this.options.logger.error({ err: error, workerId: worker.workerId }, 'retiring a slave failed');
    }
  }

  /**
   * Stops a worker on purpose and gracefully, waiting up to `graceMs` for its exit, and keeps its
   * files: a restart from files follows (a protocol upgrade, ProtocolUpgrade.ts).
   */
  async stopKeepingFiles(workerId: string, graceMs: number): Promise<void> {
    this.assertLeaseHeld(`stop ${workerId}`);
    this.intendedStops.add(workerId);
    this.retiring.add(workerId);
    try {
      await this.options.runtime.stop(workerId, graceMs);
      await forgetWorker(this.options.zk, this.options.cluster, workerId);
      await clearMasterLease(this.options.zk, this.options.cluster, workerId);
    } finally {
      this.retiring.delete(workerId);
    }
  }

  /**
   * Why a worker exited (a kill of ours says why; a retirement was meant; anything else is a
   * crash), recorded in the journal. Each exit is told once: its reasons are forgotten here.
   */
  tellExit(exit: WorkerExit): ToldExit {
    const killedFor = this.killReasons.get(exit.workerId);
    this.killReasons.delete(exit.workerId);
    this.unconfirmedKills.delete(exit.workerId);
    const retired = this.intendedStops.delete(exit.workerId);
    const reason: ExitReason = retired ? 'retired' : (killedFor ?? 'crashed');
    this.options.journal.record({ kind: 'worker-exited', workerId: exit.workerId, pid: exit.pid, reason, code: exit.code, signal: exit.signal });
    return { reason, retired };
  }

  /** An exit after the term ended: its kill reason is no longer needed, and nothing is told. */
  forgetExit(workerId: string): void {
    this.killReasons.delete(workerId);
    this.unconfirmedKills.delete(workerId);
  }

  /** Why this supervisor killed the worker, if it did and its exit has not been told yet. */
  killReasonOf(workerId: string): ExitReason | undefined {
    return this.killReasons.get(workerId);
  }

  /** Across hosts: each host with a running agent and the best worker file it reported; undefined on one host. */
  filesOnHosts(): ReadonlyMap<string, HostFile | undefined> | undefined {
    return this.options.runtime.filesOnHosts?.();
  }

  private async launch(role: 'master' | 'slave', reason: StartReason, recoverDir?: string, host?: string): Promise<WorkerHandle> {
    const workerId = `${role === 'master' ? 'm' : 's'}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    this.assertLeaseHeld(`start a ${role}`);
    this.starting.add(workerId);
    try {
      const handle = await this.options.runtime.start({
        workerId,
        role,
        reason,
        settings: workerSettingsFor(this.options, workerId, role, recoverDir),
        ...(host !== undefined ? { host } : {}),
      });
      this.options.logger.info({ workerId, pid: handle.pid, role, reason }, 'worker started');
      this.options.journal.record({ kind: 'worker-started', workerId, pid: handle.pid, role, reason });
      return handle;
    } catch (error) {
      this.starting.delete(workerId);
      throw error;
    }
  }

  private async waitReady(handle: WorkerHandle): Promise<WorkerInfo> {
    const deadline = performance.now() + (this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    while (performance.now() < deadline) {
      if (!this.isRunning(handle.workerId)) {
        throw new RideShareError('START_FAILED', `worker ${handle.workerId} (pid ${handle.pid}) exited before it was ready`);
      }
      const info = await readWorker(this.options.zk, this.options.cluster, handle.workerId);
      if (info?.ready) return info;
      await sleep(25);
    }
    await this.kill(handle.workerId, 'not-ready');
    throw new RideShareError('START_FAILED', `worker ${handle.workerId} (pid ${handle.pid}) was not ready in time`);
  }
}
