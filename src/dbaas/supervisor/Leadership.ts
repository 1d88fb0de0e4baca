/**
 * Supervision of one cluster by one of its orchestrators at a time. Whoever holds the ephemeral
 * supervisor lease runs a term: a Supervisor (start, replace and scale workers) and an
 * Autoscaler. The others stand by and take over when the lease frees. A term ends when this
 * orchestrator stops or loses its ZooKeeper session; a renewed session rejoins as standby (and
 * takes the lease again if it is free). A takeover that fails gives the lease back.
 */
import { RideShareError, UnavailableError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { DesiredSlaves } from '../coordination/DesiredSlaves.ts';
import { SupervisorLease, type SupervisorRecord } from '../coordination/SupervisorLease.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import { Autoscaler, type ScalingDecision } from './Autoscaler.ts';
import { Supervisor, type ClusterSetup } from './Supervisor.ts';
import type { SupervisionJournal } from './SupervisionJournal.ts';
import { NoRunningClusterError, type SupervisionMode } from './supervision-mode.ts';

/** After a failed takeover, how long before standing by for the lease again. */
const TAKEOVER_RETRY_MS = 1000;
/** After a `takeover` orchestrator found no running cluster: the `on` one should have the lease meanwhile. */
const NOT_RUNNING_RETRY_MS = 3000;
/** The bound on slaves without auto-scaling (MAX_SLAVES's default); with it, MAX_SLAVES arrives as scaling.maxSlaves. */
const DEFAULT_MAX_SLAVES = 8;

export interface ScalingOptions {
  windowMs: number;
  readsPerSlave: number;
  maxSlaves: number;
}

export interface LeadershipOptions extends ClusterSetup {
  orchestratorId: string;
  zk: ZkClient;
  /** Auto-scaling of slaves by read load; off when absent. */
  scaling?: ScalingOptions;
  /** Publishes this orchestrator's read count, so a window's end misses none of its reads. */
  flushReadCount(): Promise<void>;
  journal: SupervisionJournal;
  logger: Logger;
  /**
   * When this orchestrator takes the lease (supervision-mode.ts); default `on`. Across hosts a
   * new cluster and a restart from files happen on the database host, where the data is: an
   * orchestrator elsewhere must never start an empty database, so it is `off`, or `takeover`
   * (a running cluster only).
   */
  supervises?: SupervisionMode;
}

export interface ScalingReport {
  enabled: boolean;
  windowMs?: number;
  readsPerSlave?: number;
  /** The most slaves the autoscaler or an operator may ask for (MAX_SLAVES). */
  maxSlaves: number;
  clockStartedAt: string | null;
  desiredSlaves: number;
  decisions: ScalingDecision[];
}

interface Term {
  supervisor: Supervisor;
  autoscaler: Autoscaler | undefined;
  started: boolean;
}

export class Leadership {
  private readonly lease: SupervisorLease;
  private readonly desired: DesiredSlaves;
  private term: Term | undefined;
  private state: 'initial' | 'running' | 'closing' | 'closed' = 'initial';
  private closed: Promise<void> | undefined;
  private standingBy = false;

  constructor(private readonly options: LeadershipOptions) {
    this.lease = new SupervisorLease(options.zk, options.cluster, { orchestratorId: options.orchestratorId, pid: process.pid });
    this.desired = new DesiredSlaves(options.zk, options.cluster);
  }

  /** Supervises at once if the lease is free (resolving once the workers are up), else stands by. */
  async start(): Promise<void> {
    if (this.state !== 'initial') throw new RideShareError('INVALID_STATE', `cannot start leadership in state ${this.state}`);
    this.state = 'running';
    this.options.zk.on('expired', () => void this.onSessionLost());
    this.options.zk.on('renewed', () => this.onSessionRenewed());
    if (this.mode === 'on' && (await this.lease.tryAcquire())) await this.lead(false);
    else this.standBy();
  }

  /**
   * Ends the term: the workers stop with it, or stay running for a standby (`leaveWorkers`).
   * Idempotent: a second call waits for the first.
   */
  close(options: { leaveWorkers?: boolean } = {}): Promise<void> {
    this.closed ??= this.shutdown(options.leaveWorkers ?? false);
    return this.closed;
  }

  get isSupervising(): boolean {
    return this.term?.started === true;
  }

  /** The supervisor of the current term (tests and benchmarks); undefined while standing by. */
  get supervisor(): Supervisor | undefined {
    return this.term?.supervisor;
  }

  /** The orchestrator holding the supervisor lease, as ZooKeeper says. */
  supervisorRecord(): Promise<SupervisorRecord | undefined> {
    return this.lease.holder();
  }

  /** Called by the read path so the scaling clock starts with no polling delay. */
  noticeRead(): void {
    this.term?.autoscaler?.noticeRead();
  }

  crashMaster(): Promise<number> {
    return this.whenSupervising('crash calls', (supervisor) => supervisor.crashMaster());
  }

  crashSlave(): Promise<number> {
    return this.whenSupervising('crash calls', (supervisor) => supervisor.crashSlave());
  }

  get maxSlaves(): number {
    return this.options.scaling?.maxSlaves ?? DEFAULT_MAX_SLAVES;
  }

  /**
   * Sets the desired slaves by hand (0..maxSlaves, checked by the caller); the supervisor starts
   * or retires slaves toward it. The autoscaler, when on, decides again at its next window's end.
   */
  setDesiredSlaves(count: number): Promise<{ desiredSlaves: number; previous: number }> {
    return this.whenSupervising('scaling calls', async (supervisor) => {
      const previous = await supervisor.desiredSlaves();
      await supervisor.setDesiredSlaves(count);
      this.options.journal.record({ kind: 'slaves-set', slavesBefore: previous, slavesAfter: count, orchestratorId: this.options.orchestratorId });
      return { desiredSlaves: count, previous };
    });
  }

  async scalingReport(): Promise<ScalingReport> {
    const autoscaler = this.term?.autoscaler;
    const started = autoscaler?.clockStartedAt;
    return {
      enabled: this.options.scaling !== undefined,
      ...(this.options.scaling ?? {}),
      maxSlaves: this.maxSlaves,
      clockStartedAt: started === undefined ? null : new Date(started).toISOString(),
      desiredSlaves: await this.desired.get(this.options.initialSlaves),
      decisions: autoscaler?.decisions() ?? [],
    };
  }

  private async shutdown(leaveWorkers: boolean): Promise<void> {
    this.state = 'closing';
    this.lease.cancel();
    const term = this.term;
    this.term = undefined;
    term?.autoscaler?.stop();
    if (term) await (leaveWorkers ? term.supervisor.detach() : term.supervisor.stop());
    else if (!leaveWorkers) await this.options.runtime.close();
    this.state = 'closed';
  }

  private get mode(): SupervisionMode {
    return this.options.supervises ?? 'on';
  }

  private async lead(takeover: boolean): Promise<void> {
    const { options } = this;
    // Everything the term does in ZooKeeper runs on the session that holds the lease, or fails.
    const zk = options.zk.pinnedToSession();
    const supervisor = new Supervisor({
      ...options,
      zk,
      maxSlaves: this.maxSlaves,
      onlyRunning: this.mode === 'takeover',
      stepDown: (reason) => void this.stepDown(reason),
      logger: options.logger.child({ component: 'supervisor' }),
    });
    const autoscaler = options.scaling
      ? new Autoscaler({
          zk,
          cluster: options.cluster,
          ...options.scaling,
          flushLocalCount: () => options.flushReadCount(),
          currentDesired: () => supervisor.desiredSlaves(),
          setDesired: (count) => supervisor.setDesiredSlaves(count),
          journal: options.journal,
          logger: options.logger.child({ component: 'autoscaler' }),
        })
      : undefined;
    const term: Term = { supervisor, autoscaler, started: false };
    this.term = term;
    options.logger.info({ orchestratorId: options.orchestratorId, takeover }, 'supervising the cluster');
    await supervisor.start(takeover);
    // After the start: a new cluster's start clears its old znodes, the history among them.
    options.journal.record({ kind: 'supervision', orchestratorId: options.orchestratorId, takeover });
    await autoscaler?.start();
    term.started = true;
  }

  private standBy(): void {
    // One wait for the lease at a time: after a renewed session the earlier wait may still run.
    if (this.standingBy) return;
    if (this.mode === 'off') {
      void this.lease.holder().then(
        (holder) => this.options.logger.info({ holder }, 'serving the database API without supervising (this orchestrator never takes the lease)'),
        () => undefined,
      );
      return;
    }
    this.standingBy = true;
    void this.lease.holder().then(
      (holder) => this.options.logger.info({ holder }, 'another orchestrator supervises; standing by'),
      () => undefined,
    );
    void this.lease.acquire().then(async (acquired) => {
      this.standingBy = false;
      if (!acquired || this.state !== 'running') return;
      try {
        await this.lead(true);
      } catch (error) {
        if (error instanceof NoRunningClusterError) this.options.logger.info({ reason: error.message }, 'no running cluster to take over; giving the lease back and standing by');
        else this.options.logger.error({ err: error }, 'taking over supervision failed; giving the lease back and standing by');
        await this.endTerm();
        await this.lease.release().catch(() => undefined);
        setTimeout(() => this.state === 'running' && this.standBy(), error instanceof NoRunningClusterError ? NOT_RUNNING_RETRY_MS : TAKEOVER_RETRY_MS);
      }
    });
  }

  /**
   * A `takeover` supervisor whose cluster lost every worker leaves the restart from files to an
   * `on` orchestrator, where the files are: it ends its term, leaving nothing running, and gives
   * the lease back.
   */
  private async stepDown(reason: string): Promise<void> {
    if (this.state !== 'running' || !this.term) return;
    this.options.logger.warn({ reason }, 'stepping down: the cluster must restart from files, which a takeover-only supervisor leaves to the database host');
    await this.endTerm();
    await this.lease.release().catch(() => undefined);
    setTimeout(() => this.state === 'running' && this.standBy(), NOT_RUNNING_RETRY_MS);
  }

  /**
   * Without its session this orchestrator may no longer be the supervisor: it stops deciding at
   * once and leaves the workers running; once the session is renewed it rejoins.
   */
  private async onSessionLost(): Promise<void> {
    this.options.logger.error({ supervising: this.isSupervising }, 'ZooKeeper session expired; stepping down until a new session is open');
    await this.endTerm();
  }

  private onSessionRenewed(): void {
    if (this.state !== 'running') return;
    this.options.logger.info('new ZooKeeper session; rejoining as supervisor or standby');
    if (this.standingBy) this.lease.retryNow();
    else this.standBy();
  }

  private async endTerm(): Promise<void> {
    const term = this.term;
    this.term = undefined;
    term?.autoscaler?.stop();
    await term?.supervisor.detach();
  }

  /** Runs `action` if this orchestrator supervises; a standby answers 503 naming the one that does. */
  private async whenSupervising<T>(calls: string, action: (supervisor: Supervisor) => Promise<T>): Promise<T> {
    const term = this.term;
    if (term?.started) return action(term.supervisor);
    const holder = await this.lease.holder().catch(() => undefined);
    throw new UnavailableError(`this orchestrator is standing by; the supervising one is pid ${holder?.pid ?? 'unknown'}: send ${calls} there`);
  }
}
