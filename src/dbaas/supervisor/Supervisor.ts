/**
 * The reconcile loop of one cluster. It learns of deaths from the runtime at once (exit events)
 * and from ZooKeeper as the backstop (a frozen worker's session expires), and reconciles, one
 * pass at a time: forget the dead (LiveWorkers.ts), replace a dead master (Failover.ts), keep the
 * desired number of slaves (WantedSlaves.ts) on the right hosts (SlaveMove.ts), and delete the
 * files of the dead (file-pruning.ts). Launching, adopting and stopping workers is the
 * workforce's (Workforce.ts), the crash calls are crash-api.ts's; the runtime starts and kills;
 * this decides.
 */
import fs from 'node:fs';
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import type { StartReason } from '../coordination/ClusterHistory.ts';
import { secureOpenNodes } from '../coordination/secure-open-nodes.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import type { WorkerExit, WorkerHandle, WorkerRuntime } from '../runtime/WorkerRuntime.ts';
import { bootstrapCluster } from './cluster-bootstrap.ts';
import { CrashApi } from './crash-api.ts';
import { pruneDeadWorkersFiles } from './file-pruning.ts';
import { queueConverter } from './queue-conversion.ts';
import { Failover } from './Failover.ts';
import { LiveWorkers } from './LiveWorkers.ts';
import { RestartRefusedError } from './restart-refused.ts';
import { SlaveMove } from './SlaveMove.ts';
import { ProtocolUpgrade } from './ProtocolUpgrade.ts';
import type { SupervisionJournal } from './SupervisionJournal.ts';
import type { ClusterSettings } from '../settings/ClusterSettings.ts';
import type { WorkerTuning } from '../settings/WorkerTuning.ts';
import { recordWorkerDir, localWorkerDir } from '../coordination/worker-dirs.ts';
import { scaleInVictims } from './scale-in.ts';
import { RepeatedErrorLog } from '../../shared/repeated-errors.ts';
import { workersDirOf } from '../worker/files.ts';
import { WantedSlaves } from './WantedSlaves.ts';
import { Workforce } from './Workforce.ts';
import { NoRunningClusterError } from './supervision-mode.ts';

/** A safety net under the event-driven passes: a missed watch costs at most this long. */
const RECONCILE_INTERVAL_MS = 1000;

/** What supervising one cluster needs to know: where it lives, where its workers run, what they get. */
export interface ClusterSetup extends ClusterSettings {
  runtime: WorkerRuntime;
  dataDir: string;
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
  /** A `takeover` supervisor (supervision-mode.ts): it carries on a running cluster, never starts one or restarts it from files. */
  onlyRunning?: boolean;
  /** Called when an `onlyRunning` supervisor finds its cluster needs what it leaves to others (a restart from files). */
  stepDown?: (reason: string) => void;
  logger: Logger;
}

export class Supervisor {
  private readonly workersDir: string;
  private readonly wantedSlaves: WantedSlaves;
  private readonly workforce: Workforce;
  private readonly failover: Failover;
  private readonly liveWorkers: LiveWorkers;
  private readonly crashApi: CrashApi;
  private readonly slaveMove: SlaveMove;
  private readonly protocolUpgrade: ProtocolUpgrade;
  /** Declares anew, while no worker runs, queues an older version declared otherwise (queue-conversion.ts). */
  private readonly convertQueues: () => Promise<void>;
  private state: 'initial' | 'supervising' | 'detaching' | 'detached' = 'initial';
  private detached: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private passQueued = false;
  private passes: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** Dead slaves not replaced yet: the next slave started is their replacement, not a scale-out. */
  private slavesToReplace = 0;
  /** A pass failing the same way each second is logged once, then every 30 s. */
  private readonly passFailures: RepeatedErrorLog;

  constructor(private readonly options: SupervisorOptions) {
    this.workersDir = workersDirOf(options.dataDir);
    this.passFailures = new RepeatedErrorLog(options.logger, 'reconcile pass failed');
    this.wantedSlaves = new WantedSlaves(options);
    this.workforce = new Workforce({ ...options, workersDir: this.workersDir });
    this.convertQueues = queueConverter(options);
    this.failover = new Failover({ ...options, workersDir: this.workersDir, workforce: this.workforce, convertQueues: this.convertQueues });
    this.liveWorkers = new LiveWorkers({ ...options, workforce: this.workforce, failover: this.failover, changed: () => this.schedule() });
    this.crashApi = new CrashApi(this.liveWorkers, this.workforce);
    this.slaveMove = new SlaveMove({ ...options, workforce: this.workforce, ended: () => this.schedule() });
    this.protocolUpgrade = new ProtocolUpgrade({
      stopWorker: (workerId, graceMs) => this.workforce.stopKeepingFiles(workerId, graceMs),
      startMasterFromFiles: () => this.failover.startMasterFromFiles(),
      startSlaves: async () => {
        const wanted = await this.wantedSlaves.get();
        for (let i = 0; i < wanted; i += 1) void this.workforce.startSlaveInBackground('replacement', () => this.schedule());
      },
      journal: options.journal,
      logger: options.logger,
    });
  }

  /** `takeover`: another orchestrator supervised until now; its workers are adopted. */
  async start(takeover = false): Promise<void> {
    if (this.state !== 'initial') throw new RideShareError('INVALID_STATE', `cannot start a supervisor in state ${this.state}`);
    this.state = 'supervising';
    fs.mkdirSync(this.workersDir, { recursive: true });
    await this.secureZnodes();
    const outcome = await bootstrapCluster({ ...this.options, workersDir: this.workersDir, takeover });
    // Before any worker keeps a file here: a later restart from files must look here too.
    await recordWorkerDir(this.options.zk, this.options.cluster, localWorkerDir(this.workersDir));
    if (outcome.kind === 'adopt') {
      const registered = new Set(outcome.workers.map((worker) => worker.workerId));
      await this.workforce.adopt(registered, () => this.schedule());
    } else {
      if (outcome.kind === 'cold-start') await this.workforce.killStale();
      await this.wantedSlaves.initialise();
      const master = outcome.kind === 'cold-start' ? await this.coldStartMaster() : await this.freshMaster();
      if (master) {
        const slaves = await this.wantedSlaves.get();
        await Promise.all(Array.from({ length: slaves }, () => this.startWorker('slave', 'initial')));
      }
    }
    this.options.runtime.on('exit', this.onExit);
    this.timer = setInterval(() => this.schedule(), RECONCILE_INTERVAL_MS);
    this.schedule();
  }

  private async freshMaster(): Promise<WorkerHandle> {
    await this.convertQueues();
    return this.startWorker('master', 'initial');
  }

  /**
   * The master of a stopped cluster, from its files; undefined when the restart is refused (a
   * file that may lag behind): the supervisor still starts, answers 503 meanwhile, and each pass
   * tries again, as after the loss of every worker.
   */
  private async coldStartMaster(): Promise<WorkerHandle | undefined> {
    try {
      return await this.failover.startMasterFromFiles();
    } catch (error) {
      if (!(error instanceof RestartRefusedError)) throw error;
      this.passFailures.report(error);
      return undefined;
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
    if (this.leaving) {
      this.workforce.forgetExit(exit.workerId);
      return;
    }
    const { reason, retired } = this.workforce.tellExit(exit);
    if (retired) return;
    const role = this.liveWorkers.roleOf(exit.workerId);
    if (role === 'master') this.failover.masterExited(exit.pid, reason);
    else if (role === 'slave' && reason !== 'restart-from-files') this.slavesToReplace += 1;
    this.options.logger.warn({ ...exit, reason }, 'worker died');
    this.schedule();
  };

  /** Why no master runs, while a restart from files is refused (a file that may lag behind). */
  get restartRefusal(): string | undefined {
    return this.failover.restartRefusal;
  }

  /** The desired slaves, clamped to 0..MAX_SLAVES. */
  desiredSlaves(): Promise<number> {
    return this.wantedSlaves.get();
  }

  /**
   * Znodes of this cluster made before it had ZooKeeper credentials let anyone change them: they
   * get the cluster's ACL now (secure-open-nodes.ts). Nodes of other credentials are left alone.
   */
  private async secureZnodes(): Promise<void> {
    const secured = await secureOpenNodes(this.options.zk, this.options.cluster);
    if (secured.length > 0) this.options.logger.warn({ nodes: secured }, 'znodes open to anyone now carry the cluster\u2019s ACL');
  }

  async setDesiredSlaves(count: number): Promise<void> {
    await this.wantedSlaves.set(count);
    this.schedule();
  }

  /** crash/master: kills the master; supervision then elects a successor and starts a slave. */
  crashMaster(): Promise<number> {
    return this.crashApi.crashMaster();
  }

  /** crash/slave: kills the slave with the highest pid; supervision starts a replacement. */
  crashSlave(): Promise<number> {
    return this.crashApi.crashSlave();
  }

  /** Starts a worker and resolves once it reports ready (a slave: caught up and serving). */
  startWorker(role: 'master' | 'slave', reason: StartReason = 'scale-out', recoverDir?: string): Promise<WorkerHandle> {
    return this.workforce.start(role, reason, recoverDir);
  }

  /** Stops a worker on purpose (scale-in): recorded first, so its exit is never taken for a crash. */
  retire(workerId: string): Promise<void> {
    return this.workforce.retire(workerId);
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
      .catch((error: unknown) => {
        if (error instanceof NoRunningClusterError && this.options.stepDown) this.options.stepDown(error.message);
        else this.passFailures.report(error);
      });
  }

  private async reconcile(): Promise<void> {
    const live = await this.liveWorkers.read();
    const upgrade = await this.protocolUpgrade.handle(live);
    if (upgrade === 'refused') return;
    if (upgrade === 'replaced') {
      // The workers it stopped were not lost: the next pass, at once, starts the slaves from what runs then.
      this.liveWorkers.forgetSeen();
      this.failover.forgetLoss();
      this.schedule();
      return;
    }
    if (!live.some((worker) => worker.role === 'master')) {
      // The promoted slave leaves a slave's place to fill.
      if ((await this.failover.replaceMaster(live)) === 'promoted') this.slavesToReplace += 1;
    }
    const current = await this.liveWorkers.read();
    pruneDeadWorkersFiles({ zk: this.options.zk, workersDir: this.workersDir, workforce: this.workforce }, current);
    const active = current.filter((worker) => worker.role === 'slave' && !this.workforce.isRetiring(worker.workerId));
    // A slave that just turned ready is registered and still starting for a moment: count it once.
    const slaves = new Set([...active.map((worker) => worker.workerId), ...this.workforce.startingIds()]).size;
    // Read with the slaves counted: a move ends (moving cleared) in the same step as its slave's retirement begins.
    const moving = this.slaveMove.underway ? 1 : 0;
    const wanted = (await this.wantedSlaves.get()) + moving;
    for (let i = slaves; i < wanted; i += 1) {
      const replacing = this.slavesToReplace > 0;
      if (replacing) this.slavesToReplace -= 1;
      void this.workforce.startSlaveInBackground(replacing ? 'replacement' : 'scale-out', () => this.schedule());
    }
    if (slaves >= wanted) this.slavesToReplace = 0;
    if (slaves === wanted && this.workforce.startingIds().size === 0) this.slaveMove.startIfMisplaced(current);
    if (slaves <= wanted) return;
    // Scale in: the newest ready slaves go, drained (reads in flight answered).
    const victims = scaleInVictims(
      active.filter((worker) => worker.ready && !this.workforce.isStarting(worker.workerId)),
      slaves - wanted,
    );
    for (const victim of victims) void this.workforce.retireInBackground(victim);
  }
}
