/**
 * Workers on several hosts, as the supervisor sees them: a worker runtime that starts a worker by
 * assigning it to a host in ZooKeeper and stops one by asking its host's agent to
 * (coordination/assignments.ts, HostAgent.ts). What runs, and every exit, it learns from the
 * agents' reports, watched. A host whose agent is gone is unreachable, not dead: its workers stay
 * listed until their own ZooKeeper registrations vanish (their sessions expired), and a stop for
 * them waits in their assignment for an agent of that host to carry it out.
 */
import { EventEmitter } from 'node:events';
import { UnavailableError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import {
  listAgentHosts,
  listAssignmentIds,
  readAgentReport,
  readAssignment,
  removeAssignment,
  requestStop,
  writeAssignment,
  type AgentReport,
  type Assignment,
  type HostFile,
} from '../coordination/assignments.ts';
import { listWorkers, readWorker } from '../coordination/worker-registry.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import { RuntimeLifecycle } from './RuntimeLifecycle.ts';
import type { WorkerExit, WorkerHandle, WorkerRuntime, WorkerRuntimeEvents, WorkerSpec } from './WorkerRuntime.ts';

const DEFAULT_START_TIMEOUT_MS = 30_000;
/** How long a stop waits for the worker's host to carry it out before saying the host is unreachable. */
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const DEFAULT_GRACE_MS = 5000;
/** How often the registrations of an unreachable host's workers are checked. */
const UNREACHABLE_POLL_MS = 250;

/** What a placement decides from (supervisor/placement.ts decides). */
export interface PlacementInput {
  role: 'master' | 'slave';
  /** Hosts whose agent is running now. */
  hosts: readonly string[];
  /** The workers assigned now, by host (a host absent from the map runs none). */
  workersOn: ReadonlyMap<string, readonly { role: 'master' | 'slave' }[]>;
  /** The supervisor's own host. */
  ownHost: string;
}

export interface AssignedRuntimeOptions {
  zk: ZkClient;
  cluster: string;
  /** The host of this orchestrator (a master restarted from files starts here). */
  ownHost: string;
  /** What the hosts' agents run workers as (process or docker), as reported by the API. */
  kind: WorkerRuntime['kind'];
  /** Where a new worker runs (supervisor/placement.ts). */
  place(input: PlacementInput): string;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  logger: Logger;
}

interface PlacedWorker {
  handle: WorkerHandle;
  host: string;
  role: 'master' | 'slave';
}

interface Waiter {
  resolve(handle: WorkerHandle): void;
  reject(error: Error): void;
}

export class AssignedRuntime extends EventEmitter<WorkerRuntimeEvents> implements WorkerRuntime {
  readonly kind: WorkerRuntime['kind'];
  private readonly workers = new Map<string, PlacedWorker>();
  /** Assigned, not yet reported running: they count for placement. */
  private readonly pending = new Map<string, { host: string; role: 'master' | 'slave' }>();
  private readonly starts = new Map<string, Waiter>();
  private readonly gone = new Map<string, (() => void)[]>();
  /** Hosts whose agent runs (their last report), and hosts whose agent is gone. */
  private readonly reports = new Map<string, AgentReport>();
  private readonly unreachable = new Set<string>();
  /** Workers of unreachable hosts seen registered: their registration vanishing means their end. */
  private readonly seenRegistered = new Set<string>();
  /** Workers of unreachable hosts never seen registered there, since when (a start's bound ends their wait). */
  private readonly unregisteredSince = new Map<string, number>();
  /** Handles already given out by start() or adopt(). */
  private readonly claimed = new Set<string>();
  private readonly lifecycle = new RuntimeLifecycle();
  private opened: Promise<void> | undefined;
  private updates: Promise<void> = Promise.resolve();
  private poll: NodeJS.Timeout | undefined;

  constructor(private readonly options: AssignedRuntimeOptions) {
    super();
    this.kind = options.kind;
  }

  /** Starts watching the agents, once (at the first start or adoption: a standby watches nothing). */
  private open(): Promise<void> {
    this.opened ??= (async () => {
      this.options.zk.on('renewed', this.onRenewed);
      await this.watchHosts();
      await this.updates;
      await this.findUnreachable();
      this.poll = setInterval(() => this.enqueue(() => this.checkUnreachable()), UNREACHABLE_POLL_MS);
    })();
    return this.opened;
  }

  async start(spec: WorkerSpec): Promise<WorkerHandle> {
    this.lifecycle.assertOpen(`start worker ${spec.workerId}`);
    await this.open();
    // Roles as the workers publish them: a promoted slave is a master now.
    const roles = new Map((await listWorkers(this.options.zk, this.options.cluster)).map((worker) => [worker.workerId, worker.role]));
    if (spec.host !== undefined && !this.reports.has(spec.host)) throw new UnavailableError(`host ${spec.host} has no agent running: worker ${spec.workerId} cannot start there`);
    const host =
      spec.host ??
      this.options.place({
        role: spec.role,
        hosts: [...this.reports.keys()],
        workersOn: this.workersByHost(roles),
        ownHost: this.options.ownHost,
      });
    const assignment: Assignment = { host, role: spec.role, reason: spec.reason ?? 'start', ...(spec.settings.recoverDir !== undefined ? { fromFiles: true } : {}) };
    const started = new Promise<WorkerHandle>((resolve, reject) => this.starts.set(spec.workerId, { resolve, reject }));
    this.pending.set(spec.workerId, { host, role: spec.role });
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const timer = setTimeout(() => this.failStart(spec.workerId, new UnavailableError(`host ${host} did not start worker ${spec.workerId} within ${timeoutMs} ms`)), timeoutMs);
    try {
      await writeAssignment(this.options.zk, this.options.cluster, spec.workerId, assignment);
      const handle = await started;
      this.claimed.add(handle.workerId);
      return handle;
    } catch (error) {
      this.failStart(spec.workerId, error as Error);
      await requestStop(this.options.zk, this.options.cluster, spec.workerId, { signal: 'SIGKILL' }).catch(() => false);
      throw error;
    } finally {
      clearTimeout(timer);
      this.pending.delete(spec.workerId);
    }
  }

  private failStart(workerId: string, error: Error): void {
    const waiter = this.starts.get(workerId);
    this.starts.delete(workerId);
    waiter?.reject(error);
  }

  list(): WorkerHandle[] {
    return [...this.workers.values()].map((worker) => worker.handle);
  }

  async kill(workerId: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (signal !== 'SIGKILL' && signal !== 'SIGTERM') throw new UnavailableError(`a worker on another host can only be stopped (SIGKILL, SIGTERM), not sent ${signal}`);
    await this.stopThrough(workerId, signal === 'SIGKILL' ? { signal } : { signal, graceMs: DEFAULT_GRACE_MS });
  }

  stop(workerId: string, graceMs = DEFAULT_GRACE_MS): Promise<void> {
    return this.stopThrough(workerId, { signal: 'SIGTERM', graceMs });
  }

  private async stopThrough(workerId: string, stop: NonNullable<Assignment['stop']>): Promise<void> {
    const worker = this.workers.get(workerId);
    if (!worker) return;
    const gone = new Promise<void>((resolve) => this.gone.set(workerId, [...(this.gone.get(workerId) ?? []), resolve]));
    await requestStop(this.options.zk, this.options.cluster, workerId, stop);
    const limit = (this.options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS) + (stop.graceMs ?? 0);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), limit);
    });
    const outcome = await Promise.race([gone, late]);
    clearTimeout(timer);
    if (outcome === 'late')
      throw new UnavailableError(`worker ${workerId} on host ${worker.host} is not gone after ${limit} ms: the host's agent has not carried out the stop (it will once it runs again)`);
  }

  async adopt(): Promise<WorkerHandle[]> {
    this.lifecycle.assertOpen('adopt workers');
    await this.open();
    await this.refreshAll();
    const adopted = this.list().filter((handle) => !this.claimed.has(handle.workerId));
    for (const handle of adopted) this.claimed.add(handle.workerId);
    return adopted;
  }

  /** Stops every worker of the cluster, if this runtime was ever used (a standby's stops none). */
  close(): Promise<void> {
    return this.lifecycle.close(async () => {
      if (this.opened !== undefined) {
        await this.opened.catch(() => undefined);
        await Promise.allSettled(this.list().map((worker) => this.stop(worker.workerId)));
      }
      clearInterval(this.poll);
      this.options.zk.off('renewed', this.onRenewed);
    });
  }

  /**
   * Stops watching the agents and leaves every worker running (the orchestrator hands the cluster
   * over to another); close() after it stops nothing more.
   */
  release(): Promise<void> {
    return this.lifecycle.close(async () => {
      clearInterval(this.poll);
      this.options.zk.off('renewed', this.onRenewed);
      await this.updates;
    });
  }

  /** Watches die with the session that set them: a new session reads every host again, re-arming them. */
  private readonly onRenewed = (): void => {
    this.enqueue(async () => {
      await this.watchHosts();
      for (const host of [...this.reports.keys()]) await this.readHost(host);
    });
  };

  private enqueue(step: () => Promise<void>): void {
    this.updates = this.updates.then(step).catch((error: unknown) => this.options.logger.warn({ err: error }, 'reading the host agents failed'));
  }

  private get watching(): boolean {
    return this.lifecycle.state !== 'closed';
  }

  private async watchHosts(): Promise<void> {
    if (!this.watching) return;
    const hosts = await listAgentHosts(this.options.zk, this.options.cluster, () => this.enqueue(() => this.watchHosts()));
    for (const host of hosts) if (!this.reports.has(host)) await this.readHost(host);
    for (const host of [...this.reports.keys()]) if (!hosts.includes(host)) this.hostGone(host);
  }

  private async refreshAll(): Promise<void> {
    this.enqueue(() => this.watchHosts());
    await this.updates;
  }

  /** Reads a host's report and re-arms its data watch (one watch per read: a change fires one read). */
  private async readHost(host: string): Promise<void> {
    if (!this.watching) return;
    const report = await readAgentReport(this.options.zk, this.options.cluster, host, () => this.enqueue(() => this.readHost(host)));
    // An agent still taking over says nothing yet about which workers run: unreachable meanwhile.
    if (!report?.settled) return this.hostGone(host);
    this.reports.set(host, report);
    this.unreachable.delete(host);
    for (const workerId of this.listOn(host)) this.unregisteredSince.delete(workerId);
    await this.applyReport(host, report);
  }

  /** The supervisor's own host first: a restart with no file anywhere starts there. */
  filesOnHosts(): ReadonlyMap<string, HostFile | undefined> {
    const hosts = [...this.reports.keys()].sort((a, b) => Number(b === this.options.ownHost) - Number(a === this.options.ownHost));
    return new Map(hosts.map((host) => [host, this.reports.get(host)?.bestFile]));
  }

  private hostGone(host: string): void {
    this.unreachable.add(host);
    if (!this.reports.delete(host)) return;
    this.options.logger.warn({ host, workers: this.listOn(host) }, 'a host\u2019s agent is gone: its workers count as unreachable until their sessions expire');
  }

  private async applyReport(host: string, report: AgentReport): Promise<void> {
    const running = new Map(report.running.map((worker) => [worker.workerId, worker.pid]));
    for (const [workerId, worker] of this.workers) {
      if (worker.host !== host || running.has(workerId)) continue;
      const exit = [...report.exits].reverse().find((candidate) => candidate.workerId === workerId);
      this.exited({ workerId, pid: worker.handle.pid, code: exit?.code ?? null, signal: exit?.signal ?? null });
    }
    for (const [workerId, pid] of running) {
      if (this.workers.has(workerId)) continue;
      const role = this.pending.get(workerId)?.role ?? (await readAssignment(this.options.zk, this.options.cluster, workerId))?.role ?? 'slave';
      const handle = { workerId, pid };
      this.workers.set(workerId, { handle, host, role });
      const waiter = this.starts.get(workerId);
      this.starts.delete(workerId);
      waiter?.resolve(handle);
    }
    // A start the host could not carry out.
    for (const exit of report.exits) {
      if (this.starts.has(exit.workerId) && !running.has(exit.workerId)) this.failStart(exit.workerId, new UnavailableError(`host ${host} could not start worker ${exit.workerId}`));
    }
  }

  /**
   * Workers assigned to a host whose agent was already gone when this runtime opened (a takeover
   * after that host's orchestrator died): listed as unreachable while they are registered, so the
   * supervisor neither forgets a live worker nor starts its double.
   */
  private async findUnreachable(): Promise<void> {
    const { zk, cluster } = this.options;
    for (const workerId of await listAssignmentIds(zk, cluster)) {
      if (this.workers.has(workerId)) continue;
      const assignment = await readAssignment(zk, cluster, workerId);
      if (!assignment || this.reports.has(assignment.host)) continue;
      const registered = await readWorker(zk, cluster, workerId);
      if (!registered) continue;
      this.workers.set(workerId, { handle: { workerId, pid: registered.pid }, host: assignment.host, role: registered.role });
      this.seenRegistered.add(workerId);
      this.unreachable.add(assignment.host);
      this.options.logger.warn({ host: assignment.host, workerId }, 'a worker of a host without an agent: unreachable until its session expires');
    }
  }

  /**
   * An unreachable host's worker is gone once its registration is (its session expired). One not
   * registered yet (a worker still starting registers a moment after its process starts) stays
   * for as long as a start may take: the supervisor gives it its time to be ready, as to any
   * starting worker. Past that bound it is gone too: its registration may have expired before its
   * host's agent did (both sessions end together when a host is lost), and it was then never seen.
   */
  private async checkUnreachable(): Promise<void> {
    if (this.unreachable.size === 0 || !this.watching) return;
    // A span within this process: the monotonic clock, which a step of the host's clock leaves alone.
    const now = performance.now();
    for (const [workerId, worker] of this.workers) {
      if (!this.unreachable.has(worker.host)) continue;
      if (await readWorker(this.options.zk, this.options.cluster, workerId)) {
        this.seenRegistered.add(workerId);
        this.unregisteredSince.delete(workerId);
        continue;
      }
      const since = this.unregisteredSince.get(workerId) ?? now;
      this.unregisteredSince.set(workerId, since);
      const waitedOut = now - since > (this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
      if (this.seenRegistered.has(workerId) || waitedOut) this.exited({ workerId, pid: worker.handle.pid, code: null, signal: null });
    }
  }

  private exited(exit: WorkerExit): void {
    this.workers.delete(exit.workerId);
    this.claimed.delete(exit.workerId);
    this.seenRegistered.delete(exit.workerId);
    this.unregisteredSince.delete(exit.workerId);
    for (const resolve of this.gone.get(exit.workerId) ?? []) resolve();
    this.gone.delete(exit.workerId);
    void removeAssignment(this.options.zk, this.options.cluster, exit.workerId).catch(() => undefined);
    this.emit('exit', exit);
  }

  /**
   * A slave that placement would now put on another host, and that should move there: one on the
   * master's host (whose agent came up after it started: the first supervisor, alone at first,
   * starts every worker on its own host), or one on a host with at least two more workers than the
   * host placement picks (slaves piled on the hosts that stayed up while another was lost or not
   * yet started; that other host's loss, or a cut, would take every reader at once). None while a
   * start is pending or the master's host is unknown.
   */
  misplacedSlave(live: readonly { workerId: string; role: 'master' | 'slave' }[]): string | undefined {
    if (this.pending.size > 0 || !this.watching) return undefined;
    const master = live.find((worker) => worker.role === 'master');
    const masterHost = master && this.workers.get(master.workerId)?.host;
    if (masterHost === undefined) return undefined;
    const roles = new Map(live.map((worker) => [worker.workerId, worker.role]));
    for (const slave of live) {
      const own = this.workers.get(slave.workerId)?.host;
      if (slave.role !== 'slave' || own === undefined) continue;
      const without = this.workersByHost(roles, slave.workerId);
      let there: string;
      try {
        there = this.options.place({ role: 'slave', hosts: [...this.reports.keys()], workersOn: without, ownHost: this.options.ownHost });
      } catch {
        return undefined;
      }
      if (there === own) continue;
      const load = (host: string) => without.get(host)?.length ?? 0;
      // Moving it must leave the two hosts more even than they are, or it would move back and forth.
      if (own === masterHost || load(own) >= load(there) + 1) return slave.workerId;
    }
    return undefined;
  }

  private listOn(host: string): string[] {
    return [...this.workers.values()].filter((worker) => worker.host === host).map((worker) => worker.handle.workerId);
  }

  /** The workers assigned now by host, pending starts included; `except` left out (a slave about to move). */
  private workersByHost(roles: ReadonlyMap<string, 'master' | 'slave'>, except?: string): Map<string, { role: 'master' | 'slave' }[]> {
    const byHost = new Map<string, { role: 'master' | 'slave' }[]>();
    const add = (host: string, role: 'master' | 'slave') => byHost.set(host, [...(byHost.get(host) ?? []), { role }]);
    for (const worker of this.workers.values()) if (worker.handle.workerId !== except) add(worker.host, roles.get(worker.handle.workerId) ?? worker.role);
    for (const worker of this.pending.values()) add(worker.host, worker.role);
    return byHost;
  }
}
