/**
 * One host's agent: starts, adopts and stops the workers the supervisor assigned to this host,
 * through the host's own worker runtime, and reports which run (coordination/assignments.ts). It
 * decides nothing: it starts an assignment it sees appear, stops a worker whose assignment asks
 * for it or is gone, and kills a worker of this host that has no assignment (an earlier run's).
 * Several orchestrators may run on one host: the one holding the ephemeral `agents/<host>` node
 * acts, the others stand by and take over (adopting the running workers) when it goes.
 */
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { listAssignmentIds, readAssignment, REPORTED_EXITS, type AgentReport, type Assignment } from '../coordination/assignments.ts';
import { CreateMode, isZkError, ZkErrorCode, type ZkClient } from '../coordination/ZkClient.ts';
import { clusterPaths } from '../protocol/names.ts';
import { workerIdOfFile } from '../worker/files.ts';
import { mostAdvancedFile } from '../worker/recovery.ts';
import type { WorkerSettings } from '../worker/WorkerSettings.ts';
import type { WorkerExit, WorkerRuntime } from './WorkerRuntime.ts';

export interface HostAgentOptions {
  /** The orchestrator's own client (renewed after an expiry: the agent then takes its node again). */
  zk: ZkClient;
  cluster: string;
  host: string;
  orchestratorId: string;
  /** The workers of this host (for several agents of one cluster on one machine, a runtime scoped to the host). */
  runtime: WorkerRuntime;
  /** A worker's settings as this host gives them (its own folder, addresses and credentials). */
  settingsFor(workerId: string, assignment: Assignment): WorkerSettings;
  /** The host's workers' folder: the position of its most advanced file goes in every report. */
  workersDir: string;
  logger: Logger;
}

export class HostAgent {
  private state: 'initial' | 'standing-by' | 'acting' | 'closing' | 'closed' = 'initial';
  private closed: Promise<void> | undefined;
  /** Assignments already dealt with: this host's (started or adopted), and other hosts' (ignored). */
  private readonly known = new Map<string, string>();
  private readonly exits: WorkerExit[] = [];
  /** One change at a time: reading assignments, starting, reporting. */
  private work: Promise<void> = Promise.resolve();
  private reportQueued = false;
  /** The workers of the host are adopted and the assignments read: the report tells the host as it is. */
  private settled = false;

  constructor(private readonly options: HostAgentOptions) {}

  private get paths() {
    return clusterPaths(this.options.cluster);
  }

  private get node(): string {
    return this.paths.agentNode(this.options.host);
  }

  get isActing(): boolean {
    return this.state === 'acting';
  }

  /** Acts for the host at once if no other orchestrator does, else stands by. */
  async start(): Promise<void> {
    if (this.state !== 'initial') throw new RideShareError('INVALID_STATE', `cannot start a host agent in state ${this.state}`);
    this.state = 'standing-by';
    this.options.runtime.on('exit', this.onExit);
    this.options.zk.on('renewed', this.onRenewed);
    await this.options.zk.ensurePath(this.paths.agents);
    await this.options.zk.ensurePath(this.paths.assignments);
    await this.tryAcquire();
  }

  /** Gives the host up; its workers stop with it unless `leaveWorkers` (another agent of the host adopts them). */
  close(options: { leaveWorkers?: boolean } = {}): Promise<void> {
    this.closed ??= (async () => {
      this.state = 'closing';
      this.options.zk.off('renewed', this.onRenewed);
      await this.work.catch(() => undefined);
      await this.options.zk.removeIfExists(this.node).catch(() => undefined);
      if (!options.leaveWorkers) await this.options.runtime.close();
      this.options.runtime.off('exit', this.onExit);
      this.state = 'closed';
    })();
    return this.closed;
  }

  private readonly onRenewed = (): void => {
    // The ephemeral node went with the old session: take it again, or stand by.
    if (this.state === 'acting') this.state = 'standing-by';
    void this.tryAcquire().catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not take the host agent node again'));
  };

  private async tryAcquire(): Promise<void> {
    if (this.state !== 'standing-by') return;
    try {
      await this.options.zk.create(this.node, this.report(), CreateMode.EPHEMERAL);
    } catch (error) {
      if (!isZkError(error, ZkErrorCode.NODE_EXISTS)) throw error;
      // Another orchestrator acts for this host: take over when its node goes.
      const exists = await this.options.zk.exists(this.node, () => void this.tryAcquire().catch(() => undefined));
      if (!exists) return this.tryAcquire();
      this.options.logger.info({ host: this.options.host }, 'another orchestrator is this host\u2019s agent; standing by');
      return;
    }
    this.state = 'acting';
    this.settled = false;
    // Every assignment is read again, its watch re-armed: watches die with the session that set them.
    this.known.clear();
    this.options.logger.info({ host: this.options.host }, 'acting as this host\u2019s agent');
    await this.runtimeAdopt();
    this.enqueue(() => this.refresh(true));
    await this.work;
  }

  private async runtimeAdopt(): Promise<void> {
    const adopted = await this.options.runtime.adopt();
    if (adopted.length > 0) this.options.logger.info({ workers: adopted }, 'adopted the workers running on this host');
  }

  private enqueue(step: () => Promise<void>): void {
    this.work = this.work.then(step).catch((error: unknown) => this.options.logger.warn({ err: error }, 'host agent step failed'));
  }

  /**
   * Reads the assignments (re-arming the children watch) and acts on this host's new ones. On
   * `first` (just became the agent) existing assignments are adopted, not started: one whose
   * worker is not running here died meanwhile, which the report tells the supervisor.
   */
  private async refresh(first = false): Promise<void> {
    if (this.state !== 'acting') return;
    // A new cluster's start clears the old one's nodes: a children watch needs the node to exist.
    await this.options.zk.ensurePath(this.paths.assignments);
    const ids = await listAssignmentIds(this.options.zk, this.options.cluster, () => this.enqueue(() => this.refresh()));
    const present = new Set(ids);
    const running = new Set(this.options.runtime.list().map((worker) => worker.workerId));
    for (const id of ids) {
      if (this.known.has(id)) continue;
      const assignment = await readAssignment(this.options.zk, this.options.cluster, id, () => this.enqueue(() => this.reread(id)));
      if (!assignment) continue;
      this.known.set(id, assignment.host);
      if (assignment.host !== this.options.host) continue;
      if (assignment.stop) this.carryOutStop(id, assignment.stop);
      else if (!first && !running.has(id)) await this.startWorker(id, assignment);
    }
    for (const [id, host] of this.known) {
      if (present.has(id)) continue;
      this.known.delete(id);
      // The supervisor gave the worker up (or a new cluster cleared the old one's nodes).
      if (host === this.options.host && running.has(id)) this.carryOutStop(id, { signal: 'SIGKILL' });
    }
    if (first) this.killUnassigned(present);
    this.settled = true;
    this.queueReport();
  }

  private async reread(id: string): Promise<void> {
    if (this.state !== 'acting' || this.known.get(id) !== this.options.host) return;
    const assignment = await readAssignment(this.options.zk, this.options.cluster, id, () => this.enqueue(() => this.reread(id)));
    if (assignment?.stop) this.carryOutStop(id, assignment.stop);
  }

  /** A worker of this host nobody assigned was left by an earlier run: it must not take the master lease or writeQ. */
  private killUnassigned(assigned: ReadonlySet<string>): void {
    for (const worker of this.options.runtime.list()) {
      if (assigned.has(worker.workerId)) continue;
      this.options.logger.warn({ workerId: worker.workerId, pid: worker.pid }, 'killing a worker of this host that has no assignment');
      this.carryOutStop(worker.workerId, { signal: 'SIGKILL' });
    }
  }

  private async startWorker(id: string, assignment: Assignment): Promise<void> {
    try {
      const handle = await this.options.runtime.start({ workerId: id, role: assignment.role, reason: assignment.reason, settings: this.options.settingsFor(id, assignment) });
      this.options.logger.info({ workerId: id, pid: handle.pid, role: assignment.role }, 'started an assigned worker');
    } catch (error) {
      this.options.logger.error({ err: error, workerId: id }, 'could not start an assigned worker');
      this.recordExit({ workerId: id, pid: 0, code: null, signal: null });
    }
  }

  /** Not awaited: a graceful stop takes seconds, and the agent goes on meanwhile; the exit is reported. */
  private carryOutStop(id: string, stop: NonNullable<Assignment['stop']>): void {
    const { runtime, logger } = this.options;
    const stopping = stop.signal === 'SIGKILL' ? runtime.kill(id, 'SIGKILL') : runtime.stop(id, stop.graceMs);
    stopping.catch((error: unknown) => logger.warn({ err: error, workerId: id }, 'could not stop a worker of this host'));
  }

  private readonly onExit = (exit: WorkerExit): void => {
    this.options.logger.info({ ...exit }, 'a worker of this host exited');
    this.recordExit(exit);
  };

  private recordExit(exit: WorkerExit): void {
    this.exits.push(exit);
    if (this.exits.length > REPORTED_EXITS) this.exits.shift();
    this.queueReport();
  }

  /** Reports soon, once for a burst of changes. */
  private queueReport(): void {
    if (this.reportQueued || this.state !== 'acting') return;
    this.reportQueued = true;
    this.enqueue(async () => {
      this.reportQueued = false;
      if (this.state !== 'acting') return;
      try {
        await this.options.zk.setData(this.node, this.report());
      } catch (error) {
        // The node went with a lost session: a renewed one takes it again.
        if (!isZkError(error, ZkErrorCode.NO_NODE)) throw error;
      }
    });
  }

  private report(): AgentReport {
    const best = mostAdvancedFile(this.options.workersDir);
    return {
      host: this.options.host,
      orchestratorId: this.options.orchestratorId,
      pid: process.pid,
      settled: this.settled,
      running: this.options.runtime.list().map((worker) => ({ workerId: worker.workerId, pid: worker.pid })),
      exits: this.exits.map((exit) => ({ ...exit })),
      // Read at every report, and one follows every exit: once every worker is gone, each host's report holds its files' final word.
      ...(best ? { bestFile: { workerId: workerIdOfFile(best.file), epoch: best.epoch, appliedSeq: best.appliedSeq } } : {}),
    };
  }
}
