/**
 * Replacing a dead master, all of it: noticing the loss (an exit, or the master leaving the live
 * set when its session expires), promoting a successor, and restarting from the files when no
 * slave can take over. Fence before promote: the successor's lease bumps /epoch before it reads
 * the sync log up to its own mark, and from then on the old master's commit records are refused
 * (src/dbaas/coordination/commit-record.ts), so it can answer no write the successor lacks. The
 * runtime's kill of an old master that lost its session is therefore best effort (LiveWorkers.ts):
 * a host out of reach does not hold up the promotion. Then the lease is removed and a ready slave
 * is asked to promote itself: one whose applied seq already reaches the last commit record, the
 * lowest pid among them; if it does not manage, the next one is.
 */
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import type { ExitReason } from '../coordination/ClusterHistory.ts';
import type { HostFile } from '../coordination/assignments.ts';
import { readCommitRecord } from '../coordination/commit-record.ts';
import { clearMasterLease } from '../coordination/master-lease.ts';
import { requestPromotion } from '../coordination/promotion.ts';
import { readWorker, type WorkerInfo } from '../coordination/worker-registry.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import type { WorkerHandle } from '../runtime/WorkerRuntime.ts';
import { checkCommitCoverage, type CommitCoverage } from './commit-coverage.ts';
import { clearGivenUpWrites, givenUpWritesPath, readGivenUpWrites } from './given-up-writes.ts';
import { chooseRestartHost, type RestartHost } from './restart-host.ts';
import { RestartRefusedError } from './restart-refused.ts';
import { gatherRestartSources, restartSourcesUsed } from './restart-sources.ts';
import type { SupervisionJournal } from './SupervisionJournal.ts';
import type { Workforce } from './Workforce.ts';
import { NoRunningClusterError } from './supervision-mode.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

const PROMOTION_TIMEOUT_MS = 20_000;
/** While a promotion runs, how often the candidate is looked at besides its registration's watch. */
const WAIT_RECHECK_MS = 250;

export interface FailoverOptions {
  /** Pinned to the session that holds the supervisor lease (Leadership.ts). */
  zk: ZkClient;
  cluster: string;
  /** Where this supervisor's workers keep their files: a master restarted from files looks here. */
  workersDir: string;
  /** The supervisor's DATA_DIR: an operator's give-up record is looked for there (given-up-writes.ts). */
  dataDir: string;
  workforce: Workforce;
  /** A `takeover` supervisor (supervision-mode.ts): no restart from files, a NoRunningClusterError instead. */
  onlyRunning?: boolean;
  /** Run while no worker runs, before the master starts from files (queue-conversion.ts). */
  convertQueues: () => Promise<void>;
  journal: SupervisionJournal;
  logger: Logger;
}

/** How a master was replaced: a slave promoted (its slave's place is to fill) or a restart from files. */
export type Replacement = 'promoted' | 'restarted-from-files';

export class Failover {
  /** The death of the master being replaced: when it was noticed and why. */
  private loss: { at: number; pid: number; reason: ExitReason } | undefined;
  /** Why the last restart from files was refused, until one starts a master. */
  private refusal: string | undefined;
  /** When the loss being replaced now was noticed (logged with the promotion's steps). */
  private lossAt = 0;

  constructor(private readonly options: FailoverOptions) {}

  /** Why no master runs, when a restart from files is refused (the orchestrator's readiness says it). */
  get restartRefusal(): string | undefined {
    return this.refusal;
  }

  /** The master exited (the runtime said so): the failover's clock starts now. */
  masterExited(pid: number, reason: ExitReason): void {
    this.loss ??= { at: monotonicNow(), pid, reason };
  }

  /** Workers stopped on purpose (a protocol upgrade) were not lost: no failover clock runs for them. */
  forgetLoss(): void {
    this.loss = undefined;
  }

  /** A master that left the live set since the last pass (dead, or its session gone) is being lost now. */
  noteLiveSet(lastSeen: Iterable<WorkerInfo>, live: readonly WorkerInfo[]): void {
    const previous = [...lastSeen].find((worker) => worker.role === 'master');
    if (!previous || live.some((worker) => worker.workerId === previous.workerId)) return;
    this.loss ??= { at: monotonicNow(), pid: previous.pid, reason: this.options.workforce.killReasonOf(previous.workerId) ?? 'crashed' };
  }

  /** There is no live master: a ready slave of `live` is promoted, or the master restarts from the files. */
  async replaceMaster(live: readonly WorkerInfo[]): Promise<Replacement> {
    const loss = this.loss ?? { at: monotonicNow(), pid: 0, reason: 'crashed' as const };
    this.loss = undefined;
    this.lossAt = loss.at;
    const candidates = live.filter((worker) => worker.role === 'slave' && worker.ready);
    const promoted = candidates.length > 0 ? await this.promoteSuccessor(candidates) : undefined;
    const why = loss.pid ? `master pid ${loss.pid}: ${loss.reason}` : 'no live master';
    if (promoted) {
      this.options.logger.info({ workerId: promoted.workerId, pid: promoted.pid, epoch: promoted.epoch }, 'new master');
      this.options.journal.record({ kind: 'failover', workerId: promoted.workerId, pid: promoted.pid, epoch: promoted.epoch, durationMs: monotonicNow() - loss.at, reason: why });
      return 'promoted';
    }
    // A takeover-only supervisor restarts from files only where hosts' agents report their files
    // (restart-host.ts), and only from one that holds every acknowledged write; the rest it leaves
    // to the database host's supervisor.
    if (this.options.onlyRunning && this.options.workforce.filesOnHosts() === undefined) {
      this.loss ??= loss;
      throw new NoRunningClusterError(`${why}, and no slave can be promoted: the master must restart from files`);
    }
    // No replica can take over (a joining slave cannot copy without a source): every copy is a
    // file on disk, and the master's holds every acknowledged write; restart from the best one.
    // Not again while a restart is refused: the refusal itself is logged, once and then every 30 s.
    if (this.refusal === undefined) this.options.logger.error('no slave can be promoted; restarting the master from the workers\u2019 files');
    const { workforce } = this.options;
    for (const worker of workforce.running()) await workforce.kill(worker.workerId, 'restart-from-files');
    let master: WorkerHandle;
    try {
      master = await this.startMasterFromFiles();
    } catch (error) {
      // Refused or failed: the next pass tries again, and the outage still counts from the loss.
      this.loss ??= loss;
      throw error;
    }
    this.loss = undefined;
    this.options.journal.record({
      kind: 'failover',
      workerId: master.workerId,
      pid: master.pid,
      epoch: 0,
      durationMs: monotonicNow() - loss.at,
      reason: `${why}; no slave could be promoted: restarted from files`,
    });
    return 'restarted-from-files';
  }

  /**
   * A master from the most advanced file of the cluster, wherever a supervisor kept it
   * (restart-sources.ts), provided that file holds every write the commit record says was
   * answered (commit-coverage.ts); a RestartRefusedError otherwise, and nothing is started.
   */
  async startMasterFromFiles(): Promise<WorkerHandle> {
    const files = this.options.workforce.filesOnHosts();
    if (files !== undefined) return this.startMasterWhereTheFileIs(files);
    const sources = { zk: this.options.zk, cluster: this.options.cluster, workersDir: this.options.workersDir, logger: this.options.logger };
    let coverage: CommitCoverage;
    try {
      await gatherRestartSources(sources);
      coverage = await checkCommitCoverage({ ...sources, dataDir: this.options.dataDir });
    } catch (error) {
      if (error instanceof RestartRefusedError) this.refusal = error.message;
      throw error;
    }
    await this.options.convertQueues();
    const master = await this.options.workforce.start('master', 'restart-from-files', this.options.workersDir);
    this.refusal = undefined;
    await restartSourcesUsed(sources);
    if (coverage === 'given-up') clearGivenUpWrites(this.options.dataDir);
    return master;
  }

  /**
   * Across hosts: the master starts on the host whose agent reported the most advanced file, if
   * that file holds every write the commit record says was answered (restart-host.ts); a
   * RestartRefusedError otherwise, and nothing is started. A takeover-only supervisor goes only
   * from a file that covers the record, never on an operator's give-up or with no record.
   */
  private async startMasterWhereTheFileIs(files: ReadonlyMap<string, HostFile | undefined>): Promise<WorkerHandle> {
    const { zk, cluster, dataDir, logger } = this.options;
    let chosen: RestartHost;
    try {
      chosen = chooseRestartHost({ files, committed: await readCommitRecord(zk, cluster), givenUp: readGivenUpWrites(dataDir), givenUpPath: givenUpWritesPath(dataDir) });
    } catch (error) {
      if (error instanceof RestartRefusedError) this.refusal = error.message;
      throw error;
    }
    if (this.options.onlyRunning && chosen.coverage !== 'covered') {
      throw new NoRunningClusterError(`the restart from files needs the database host's supervisor (${chosen.coverage === 'given-up' ? 'writes given up' : 'no commit record'})`);
    }
    logger.warn({ host: chosen.host, file: chosen.file, coverage: chosen.coverage }, 'restarting the master from the most advanced file, on the host that holds it');
    await this.options.convertQueues();
    const master = await this.options.workforce.start('master', 'restart-from-files', this.options.workersDir, chosen.host);
    this.refusal = undefined;
    if (chosen.coverage === 'given-up') clearGivenUpWrites(dataDir);
    return master;
  }

  /** Promotes one of `candidates` (ready slaves, alive in the runtime): the new master, or undefined when none could be. */
  private async promoteSuccessor(candidates: WorkerInfo[]): Promise<WorkerInfo | undefined> {
    const { zk, cluster, logger, workforce } = this.options;
    const stepsAt: Record<string, number> = { begun: Date.now() };
    // The old lease goes while the record is read: neither waits for the other.
    const [committed] = await Promise.all([readCommitRecord(zk, cluster), clearMasterLease(zk, cluster)]);
    const committedSeq = committed?.seq ?? 0;
    stepsAt.leaseCleared = Date.now();
    let first = true;
    for (const candidate of successionOrder(candidates, committedSeq)) {
      // A candidate that did not manage may have taken the lease before it failed.
      if (!first) await clearMasterLease(zk, cluster);
      first = false;
      await requestPromotion(zk, cluster, candidate.workerId);
      stepsAt.requested = Date.now();
      logger.info({ workerId: candidate.workerId, pid: candidate.pid, appliedSeq: candidate.appliedSeq, committedSeq }, 'promoting a ready slave');
      const promoted = await this.waitForMaster(candidate.workerId);
      stepsAt.masterSeen = Date.now();
      logger.info({ workerId: candidate.workerId, promoted: promoted !== undefined, lossAt: this.lossAt, stepsAt }, 'promotion steps');
      if (promoted) return promoted;
      logger.error({ workerId: candidate.workerId }, 'promotion did not complete; killing the candidate and trying the next');
      await workforce.killBestEffort(candidate.workerId, 'failed-promotion');
    }
    return undefined;
  }

  /**
   * Resolves once the candidate registers as a ready master (its registration's data watch says
   * when), or undefined when it stops running, loses its registration, or the bound passes. The
   * watch is re-armed only once it fired; a look every WAIT_RECHECK_MS meanwhile notices a
   * candidate that exited.
   */
  private async waitForMaster(workerId: string): Promise<WorkerInfo | undefined> {
    const { zk, cluster, workforce } = this.options;
    const deadline = performance.now() + PROMOTION_TIMEOUT_MS;
    let wake: () => void = () => undefined;
    let watchArmed = false;
    const changed = () => {
      watchArmed = false;
      wake();
    };
    while (performance.now() < deadline) {
      if (!workforce.isRunning(workerId)) return undefined;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const watcher = watchArmed ? undefined : changed;
      watchArmed = true;
      const me = await readWorker(zk, cluster, workerId, watcher);
      // A vanished registration is a candidate whose session expired (frozen, or cut off): next one.
      if (!me) return undefined;
      if (me.role === 'master' && me.ready) return me;
      await Promise.race([woken, sleep(Math.min(WAIT_RECHECK_MS, Math.max(0, deadline - performance.now())))]);
    }
    return undefined;
  }
}

/**
 * The order in which ready slaves are asked to take over: first those whose published applied seq
 * reaches the last commit record (they hold every answered write already, so their drain is
 * short), then the others; the lowest pid first within each (SPEC.md's tie-break). The others
 * stay candidates: a slave publishes its seq every half second, and what it lacks of the record
 * is in the sync log, which its promotion reads up to its own mark before it takes a write.
 */
export function successionOrder(candidates: readonly WorkerInfo[], committedSeq: number): WorkerInfo[] {
  const byPid = [...candidates].sort((a, b) => a.pid - b.pid);
  return [...byPid.filter((worker) => worker.appliedSeq >= committedSeq), ...byPid.filter((worker) => worker.appliedSeq < committedSeq)];
}
