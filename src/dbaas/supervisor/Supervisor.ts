/**
 * Keeps the cluster's workers running through a worker runtime. It learns of deaths from the
 * runtime at once (exit events) and from ZooKeeper as the backstop (a frozen worker's session
 * expires), and reconciles, one pass at a time: forget the dead, replace a dead master (see
 * Failover.ts), keep the desired number of slaves. The runtime starts and kills; this decides.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import { clearMasterLease } from '../coordination/MasterLease.ts';
import type { ExitReason, StartReason } from '../coordination/ClusterHistory.ts';
import { forgetWorker, listWorkers, readWorker } from '../coordination/WorkerRegistry.ts';
import { secureOpenNodes } from '../coordination/ZkAcl.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import type { WorkerInfo } from '../protocol/names.ts';
import type { WorkerExit, WorkerHandle, WorkerRuntime } from '../runtime/WorkerRuntime.ts';
import { bootstrapCluster } from './ClusterBootstrap.ts';
import { DesiredSlaves } from '../coordination/DesiredSlaves.ts';
import { promoteSuccessor } from './Failover.ts';
import type { SupervisionJournal } from './SupervisionJournal.ts';
import type { WorkerTuning } from '../worker/WorkerSettings.ts';
import { recordWorkerDir, localWorkerDir } from '../coordination/WorkerDirs.ts';
import { gatherRestartSources, restartSourcesUsed } from './RestartSources.ts';
import { scaleInVictims } from './scaleIn.ts';
import { RepeatedErrorLog } from '../../shared/repeated-errors.ts';
import { removeWorkerFiles, workerDbFile, workerFileOwners, workersDirOf } from '../worker/files.ts';

/** A safety net under the event-driven passes: a missed watch costs at most this long. */
const RECONCILE_INTERVAL_MS = 1000;

/** What supervising one cluster needs to know: where it lives, where its workers run, what they get. */
export interface ClusterSetup {
  runtime: WorkerRuntime;
  cluster: string;
  dataDir: string;
  amqpUrl: string;
  zkConnect: string;
  initialSlaves: number;
  /** Tuning every worker gets (timeouts, durability, log level). */
  workerTuning: WorkerTuning;
}

export interface SupervisorOptions extends ClusterSetup {
  zk: ZkClient;
  /**
   * MAX_SLAVES: the desired slaves read from ZooKeeper are clamped to 0..maxSlaves, whoever wrote
   * them (the autoscaler and the API never ask for more; a stray writer must not start hundreds).
   */
  maxSlaves: number;
  /** Where every start, exit and failover is told (history and metrics). */
  journal: SupervisionJournal;
  readyTimeoutMs?: number;
  logger: Logger;
}

export class Supervisor {
  private readonly workersDir: string;
  private readonly desired: DesiredSlaves;
  private state: 'initial' | 'supervising' | 'detaching' | 'detached' = 'initial';
  private detached: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private passQueued = false;
  private watchArmed = false;
  private passes: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** Workers started but not yet ready: they count toward the desired slaves. */
  private readonly starting = new Set<string>();
  /** Workers being stopped on purpose: their exit is not a crash. */
  private readonly intendedStops = new Set<string>();
  /** Workers being drained and stopped right now: no longer counted as slaves. */
  private readonly retiring = new Set<string>();
  /** Why this supervisor killed a worker, for its exit event; an exit without one is a crash. */
  private readonly killReasons = new Map<string, ExitReason>();
  /** The workers as the last pass saw them, so an exit can be told as a master's or a slave's. */
  private lastSeen = new Map<string, WorkerInfo>();
  /** Dead slaves not replaced yet: the next slave started is their replacement, not a scale-out. */
  private slavesToReplace = 0;
  /** The death of the master being replaced: when it was noticed and why. */
  private masterLoss: { at: number; pid: number; reason: ExitReason } | undefined;
  /** A pass failing the same way each second is logged once, then every 30 s. */
  private readonly passFailures: RepeatedErrorLog;
  /** The last out-of-bounds desired count logged, so a pass a second does not repeat it. */
  private clampedFrom: number | undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.workersDir = workersDirOf(options.dataDir);
    this.passFailures = new RepeatedErrorLog(options.logger, 'reconcile pass failed');
    this.desired = new DesiredSlaves(options.zk, options.cluster);
  }

  /** `takeover`: another orchestrator supervised until now; its workers are adopted. */
  async start(takeover = false): Promise<void> {
    if (this.state !== 'initial') throw new Error(`cannot start a supervisor in state ${this.state}`);
    this.state = 'supervising';
    fs.mkdirSync(this.workersDir, { recursive: true });
    await this.secureZnodes();
    const outcome = await bootstrapCluster({ ...this.options, workersDir: this.workersDir, takeover });
    // Before any worker keeps a file here: a later restart from files must look here too.
    await recordWorkerDir(this.options.zk, this.options.cluster, localWorkerDir(this.workersDir));
    if (outcome.kind === 'adopt') {
      const adopted = await this.options.runtime.adopt();
      this.options.logger.info({ workers: adopted.map((worker) => worker.pid) }, 'adopted the running workers');
      const registered = new Set(outcome.workers.map((worker) => worker.workerId));
      for (const handle of adopted) if (!registered.has(handle.workerId)) this.awaitAdopted(handle);
    } else {
      if (outcome.kind === 'cold-start') await this.killStaleWorkers();
      await this.desired.initialise(this.options.initialSlaves);
      if (outcome.kind === 'cold-start') await this.startMasterFromFiles();
      else await this.startWorker('master', 'initial');
      const slaves = await this.wantedSlaves();
      await Promise.all(Array.from({ length: slaves }, () => this.startWorker('slave', 'initial')));
    }
    this.options.runtime.on('exit', this.onExit);
    this.timer = setInterval(() => this.schedule(), RECONCILE_INTERVAL_MS);
    this.schedule();
  }

  /**
   * A cold start restarts from the files: a worker of the cluster still running unregistered (its
   * session expired, it is on its way out) must not write to its file or hold writeQ meanwhile.
   */
  private async killStaleWorkers(): Promise<void> {
    await this.options.runtime.adopt();
    for (const worker of this.options.runtime.list()) {
      this.options.logger.warn({ workerId: worker.workerId, pid: worker.pid }, 'killing an unregistered worker before the restart from files');
      await this.killWorker(worker.workerId, 'stale');
    }
  }

  /** Stops supervising and every worker. Idempotent: a second call waits for the first. */
  stop(): Promise<void> {
    this.stopped ??= this.detach().then(() => this.options.runtime.close());
    return this.stopped;
  }

  /**
   * Stops supervising but leaves the workers running (another orchestrator will adopt them); the
   * pass in progress is finished first. Idempotent.
   */
  detach(): Promise<void> {
    this.detached ??= this.finishPasses();
    return this.detached;
  }

  private async finishPasses(): Promise<void> {
    this.state = 'detaching';
    clearInterval(this.timer);
    this.options.runtime.off('exit', this.onExit);
    await this.passes;
    this.state = 'detached';
  }

  /** Detaching or detached: no more decisions. */
  private get leaving(): boolean {
    return this.state === 'detaching' || this.state === 'detached';
  }

  private readonly onExit = (exit: WorkerExit): void => {
    const killedFor = this.killReasons.get(exit.workerId);
    this.killReasons.delete(exit.workerId);
    if (this.leaving) return;
    const retired = this.intendedStops.delete(exit.workerId);
    const reason: ExitReason = retired ? 'retired' : (killedFor ?? 'crashed');
    this.options.journal.record({ kind: 'worker-exited', workerId: exit.workerId, pid: exit.pid, reason, code: exit.code, signal: exit.signal });
    if (retired) return;
    const role = this.lastSeen.get(exit.workerId)?.role;
    if (role === 'master') this.masterLoss ??= { at: Date.now(), pid: exit.pid, reason };
    else if (role === 'slave' && reason !== 'restart-from-files') this.slavesToReplace += 1;
    this.options.logger.warn({ ...exit, reason }, 'worker died');
    this.schedule();
  };

  /** Kills a worker and remembers why, for its exit event. */
  private async killWorker(workerId: string, reason: ExitReason): Promise<void> {
    this.assertLeaseHeld(`kill ${workerId}`);
    this.killReasons.set(workerId, reason);
    await this.options.runtime.kill(workerId, 'SIGKILL');
  }

  desiredSlaves(): Promise<number> {
    return this.wantedSlaves();
  }

  /** The desired slaves from ZooKeeper, clamped to 0..MAX_SLAVES (and said so, once per value). */
  private async wantedSlaves(): Promise<number> {
    const stored = await this.desired.get(this.options.initialSlaves);
    const wanted = Math.min(Math.max(stored, 0), this.options.maxSlaves);
    if (wanted !== stored && this.clampedFrom !== stored) {
      this.options.logger.warn({ stored, maxSlaves: this.options.maxSlaves, wanted }, 'desired slaves in ZooKeeper beyond MAX_SLAVES; keeping MAX_SLAVES');
    }
    this.clampedFrom = wanted === stored ? undefined : stored;
    return wanted;
  }

  /**
   * Znodes of this cluster made before it had ZooKeeper credentials let anyone change them: they
   * get the cluster's ACL now (ZkAcl.ts). Nodes of other credentials are left alone.
   */
  private async secureZnodes(): Promise<void> {
    const secured = await secureOpenNodes(this.options.zk, this.options.cluster);
    if (secured.length > 0) this.options.logger.warn({ nodes: secured }, 'znodes open to anyone now carry the cluster\u2019s ACL');
  }

  async setDesiredSlaves(count: number): Promise<void> {
    await this.desired.set(count);
    this.schedule();
  }

  /** crash/master: kills the master; supervision then elects a successor and starts a slave. */
  async crashMaster(): Promise<number> {
    const master = (await this.liveWorkers()).find((worker) => worker.role === 'master');
    if (!master) throw new RideShareError('CONFLICT', 'there is no master to crash (a failover is in progress)');
    await this.killWorker(master.workerId, 'crash-api');
    await this.forgetDead(master.workerId);
    return master.pid;
  }

  /** crash/slave: kills the slave with the highest pid; supervision starts a replacement. */
  async crashSlave(): Promise<number> {
    const slaves = (await this.liveWorkers()).filter((worker) => worker.role === 'slave').sort((a, b) => b.pid - a.pid);
    const victim = slaves[0];
    if (!victim) throw new RideShareError('CONFLICT', 'there is no slave to crash: only the master is running');
    await this.killWorker(victim.workerId, 'crash-api');
    await this.forgetDead(victim.workerId);
    return victim.pid;
  }

  /** A worker known dead leaves the list at once, not when its session expires. */
  private async forgetDead(workerId: string): Promise<void> {
    await forgetWorker(this.options.zk, this.options.cluster, workerId);
    await clearMasterLease(this.options.zk, this.options.cluster, workerId);
  }

  /** Starts a worker and resolves once it reports ready (a slave: caught up and serving). */
  async startWorker(role: 'master' | 'slave', reason: StartReason = 'scale-out', recoverDir?: string): Promise<WorkerHandle> {
    const handle = await this.launch(role, reason, recoverDir);
    try {
      await this.waitReady(handle);
    } finally {
      this.starting.delete(handle.workerId);
    }
    return handle;
  }

  /**
   * A worker the previous supervisor started a moment before it died may not have registered
   * yet: it counts as starting (neither killed as session-less nor doubled by a new start) until
   * it is ready, or is killed if it is not ready in time.
   */
  private awaitAdopted(handle: WorkerHandle): void {
    this.starting.add(handle.workerId);
    this.waitReady(handle)
      .catch((error: unknown) => this.options.logger.warn({ err: error, workerId: handle.workerId }, 'an adopted worker never became ready'))
      .finally(() => {
        this.starting.delete(handle.workerId);
        this.schedule();
      });
  }

  /**
   * Every action of a supervisor is taken under the lease it holds at that moment. The lease is
   * an ephemeral znode of the session this supervisor was started in (its ZooKeeper client is
   * pinned to it, src/dbaas/coordination/ZkClient.ts): once that session is lost, or while it is
   * disconnected and may be expiring, another orchestrator may supervise, so nothing is killed,
   * started or deleted; the pass stops here and the term ends (Leadership.ts).
   */
  private assertLeaseHeld(action: string): void {
    if (!this.options.zk.holdsSession()) throw new RideShareError('LEASE_LOST', `not supervising under a live lease: will not ${action}`);
  }

  /** Stops a worker on purpose (scale-in): recorded first, so its exit is never taken for a crash. */
  async retire(workerId: string): Promise<void> {
    this.assertLeaseHeld(`retire ${workerId}`);
    this.intendedStops.add(workerId);
    this.retiring.add(workerId);
    try {
      await this.options.runtime.stop(workerId);
      await forgetWorker(this.options.zk, this.options.cluster, workerId);
      removeWorkerFiles(this.workersDir, workerId);
    } finally {
      this.retiring.delete(workerId);
    }
  }

  /** Queues a reconcile pass; passes never overlap, and a burst of events makes one pass. */
  schedule(): void {
    if (this.leaving || this.passQueued) return;
    this.passQueued = true;
    this.passes = this.passes
      .then(async () => {
        this.passQueued = false;
        if (!this.leaving) await this.reconcile();
      })
      .catch((error: unknown) => this.passFailures.report(error));
  }

  private async reconcile(): Promise<void> {
    const live = await this.liveWorkers();
    if (!live.some((worker) => worker.role === 'master')) {
      const promoted = await this.replaceMaster(live);
      if (!promoted) return;
    }
    const current = await this.liveWorkers();
    this.pruneFiles(current);
    const active = current.filter((worker) => worker.role === 'slave' && !this.retiring.has(worker.workerId));
    // A slave that just turned ready is registered and still `starting` for a moment: count it once.
    const slaves = new Set([...active.map((worker) => worker.workerId), ...this.starting]).size;
    const wanted = await this.wantedSlaves();
    for (let i = slaves; i < wanted; i += 1) {
      const replacing = this.slavesToReplace > 0;
      if (replacing) this.slavesToReplace -= 1;
      void this.startSlaveInBackground(replacing ? 'replacement' : 'scale-out');
    }
    if (slaves >= wanted) this.slavesToReplace = 0;
    if (slaves <= wanted) return;
    // Scale in: the newest ready slaves go, drained (reads in flight answered).
    const victims = scaleInVictims(active.filter((worker) => worker.ready && !this.starting.has(worker.workerId)), slaves - wanted);
    for (const victim of victims) void this.retireInBackground(victim);
  }

  private async retireInBackground(worker: WorkerInfo): Promise<void> {
    this.options.logger.info({ workerId: worker.workerId, pid: worker.pid }, 'scaling in: draining and stopping a slave');
    try {
      await this.retire(worker.workerId);
    } catch (error) {
      this.options.logger.error({ err: error, workerId: worker.workerId }, 'retiring a slave failed');
    }
  }

  /**
   * Registered workers whose process is alive. Forgets the dead (their znodes, which would
   * otherwise linger until their session expires) and kills the living whose registration is
   * gone (a frozen worker whose session expired must not wake up and act).
   */
  private async liveWorkers(): Promise<WorkerInfo[]> {
    const registered = await this.registeredWorkers();
    const running = new Map(this.options.runtime.list().map((worker) => [worker.workerId, worker]));
    for (const worker of registered) {
      if (!running.has(worker.workerId)) await this.forgetDead(worker.workerId);
    }
    const registeredIds = new Set(registered.map((worker) => worker.workerId));
    for (const worker of running.values()) {
      if (registeredIds.has(worker.workerId) || this.starting.has(worker.workerId) || this.intendedStops.has(worker.workerId)) continue;
      this.options.logger.warn({ workerId: worker.workerId, pid: worker.pid }, 'worker lost its ZooKeeper session; killing it');
      await this.killWorker(worker.workerId, 'session-lost');
      await this.forgetDead(worker.workerId);
    }
    const live = registered.filter((worker) => running.has(worker.workerId));
    this.noteMasterLoss(live);
    this.lastSeen = new Map(live.map((worker) => [worker.workerId, worker]));
    return live;
  }

  /** A master that left the live set since the last pass (dead, or its session gone) is being lost now. */
  private noteMasterLoss(live: WorkerInfo[]): void {
    const previous = [...this.lastSeen.values()].find((worker) => worker.role === 'master');
    if (!previous || live.some((worker) => worker.workerId === previous.workerId)) return;
    this.masterLoss ??= { at: Date.now(), pid: previous.pid, reason: this.killReasons.get(previous.workerId) ?? 'crashed' };
  }

  private async replaceMaster(live: WorkerInfo[]): Promise<boolean> {
    const loss = this.masterLoss ?? { at: Date.now(), pid: 0, reason: 'crashed' as const };
    this.masterLoss = undefined;
    const candidates = live.filter((worker) => worker.role === 'slave' && worker.ready);
    const deps = {
      zk: this.options.zk,
      runtime: this.options.runtime,
      cluster: this.options.cluster,
      kill: (workerId: string) => this.killWorker(workerId, 'failed-promotion'),
      logger: this.options.logger,
    };
    const promoted = candidates.length > 0 ? await promoteSuccessor(deps, candidates) : undefined;
    const why = loss.pid ? `master pid ${loss.pid}: ${loss.reason}` : 'no live master';
    if (promoted) {
      this.options.logger.info({ workerId: promoted.workerId, pid: promoted.pid, epoch: promoted.epoch }, 'new master');
      this.options.journal.record({ kind: 'failover', workerId: promoted.workerId, pid: promoted.pid, epoch: promoted.epoch, durationMs: Date.now() - loss.at, reason: why });
      // The promoted slave leaves a slave's place to fill.
      this.slavesToReplace += 1;
      return true;
    }
    // No replica can take over (a joining slave cannot copy without a source): every copy is a
    // file on disk, and the master's holds every acknowledged write; restart from the best one.
    this.options.logger.error('no slave can be promoted; restarting the master from the workers\u2019 files');
    for (const worker of this.options.runtime.list()) await this.killWorker(worker.workerId, 'restart-from-files');
    const master = await this.startMasterFromFiles();
    this.masterLoss = undefined;
    this.options.journal.record({ kind: 'failover', workerId: master.workerId, pid: master.pid, epoch: 0, durationMs: Date.now() - loss.at, reason: `${why}; no slave could be promoted: restarted from files` });
    return true;
  }

  /** A master from the most advanced file of the cluster, wherever a supervisor kept it (RestartSources.ts). */
  private async startMasterFromFiles(): Promise<WorkerHandle> {
    const sources = { zk: this.options.zk, cluster: this.options.cluster, workersDir: this.workersDir, logger: this.options.logger };
    await gatherRestartSources(sources);
    const master = await this.startWorker('master', 'restart-from-files', this.workersDir);
    await restartSourcesUsed(sources);
    return master;
  }

  private async startSlaveInBackground(reason: StartReason): Promise<void> {
    try {
      await this.startWorker('slave', reason);
    } catch (error) {
      this.options.logger.error({ err: error }, 'a new slave did not become ready');
      this.schedule();
    }
  }

  private async launch(role: 'master' | 'slave', reason: StartReason, recoverDir?: string): Promise<WorkerHandle> {
    const workerId = `${role === 'master' ? 'm' : 's'}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    this.assertLeaseHeld(`start a ${role}`);
    this.starting.add(workerId);
    try {
      const handle = await this.options.runtime.start({
        workerId,
        role,
        settings: {
          ...this.options.workerTuning,
          workerId,
          role,
          dbFile: workerDbFile(this.workersDir, workerId),
          ...(recoverDir ? { recoverDir } : {}),
          cluster: this.options.cluster,
          amqpUrl: this.options.amqpUrl,
          zkConnect: this.options.zkConnect,
        },
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
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      if (!this.options.runtime.list().some((running) => running.workerId === handle.workerId)) {
        throw new Error(`worker ${handle.workerId} (pid ${handle.pid}) exited before it was ready`);
      }
      const info = await readWorker(this.options.zk, this.options.cluster, handle.workerId);
      if (info?.ready) return info;
      await sleep(25);
    }
    await this.killWorker(handle.workerId, 'not-ready');
    throw new Error(`worker ${handle.workerId} (pid ${handle.pid}) was not ready in time`);
  }

  /** The registered workers; re-arms the one-shot children watch, so a vanishing znode (session expiry) triggers a pass. */
  private async registeredWorkers(): Promise<WorkerInfo[]> {
    if (this.watchArmed) return listWorkers(this.options.zk, this.options.cluster);
    this.watchArmed = true;
    try {
      return await listWorkers(this.options.zk, this.options.cluster, () => {
        this.watchArmed = false;
        this.schedule();
      });
    } catch (error) {
      this.watchArmed = false;
      throw error;
    }
  }

  /**
   * A dead worker's file is redundant only while a ready master is running: that master holds
   * every acknowledged write (a promoted master drained them all; the others' extra tails were
   * never acknowledged). The running set is read once, synchronously, and decides both "the
   * master runs" and "this worker is dead", so a master that died a moment ago never has its
   * file taken for redundant: the most advanced copy always survives for a restart from files.
   */
  private pruneFiles(registered: WorkerInfo[]): void {
    const running = new Set(this.options.runtime.list().map((worker) => worker.workerId));
    const master = registered.find((worker) => worker.role === 'master' && worker.ready && running.has(worker.workerId));
    if (!master || !this.options.zk.holdsSession()) return;
    for (const workerId of workerFileOwners(this.workersDir)) {
      if (workerId === master.workerId || running.has(workerId) || this.starting.has(workerId)) continue;
      removeWorkerFiles(this.workersDir, workerId);
    }
  }

}
