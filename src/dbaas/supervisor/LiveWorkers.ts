/**
 * The workers a reconcile pass works from: registered in ZooKeeper and running in the runtime.
 * The two lists disagree after a death, and reading them is where the disagreement is settled:
 * a registered worker whose process is gone is forgotten at once (its znodes would otherwise
 * linger until its session expires), and a running worker whose registration is gone (a frozen
 * worker whose session expired) is killed before it can wake up and act. Kept apart from the
 * supervisor's loop because the crash API reads the same set and forgets its victims the same way.
 */
import type { Logger } from '../../shared/logger.ts';
import { clearMasterLease } from '../coordination/master-lease.ts';
import { forgetWorker, listWorkers, type WorkerInfo } from '../coordination/worker-registry.ts';
import type { ZkClient } from '../coordination/ZkClient.ts';
import type { Failover } from './Failover.ts';
import type { Workforce } from './Workforce.ts';

export interface LiveWorkersOptions {
  /** Pinned to the session that holds the supervisor lease (Leadership.ts). */
  zk: ZkClient;
  cluster: string;
  workforce: Workforce;
  /** Told each live set, so a master leaving it counts as lost. */
  failover: Failover;
  /** Called when the registered workers change (a znode vanished, a session expired): a pass is due. */
  changed: () => void;
  logger: Logger;
}

export class LiveWorkers {
  private watchArmed = false;
  /** The workers as the last read saw them, so an exit can be told as a master's or a slave's. */
  private lastSeen = new Map<string, WorkerInfo>();

  constructor(private readonly options: LiveWorkersOptions) {}

  /** The role a worker had when last seen live; undefined for one never seen (or forgotten). */
  roleOf(workerId: string): WorkerInfo['role'] | undefined {
    return this.lastSeen.get(workerId)?.role;
  }

  /** Workers stopped on purpose (a protocol upgrade) were not lost: none counts as seen. */
  forgetSeen(): void {
    this.lastSeen = new Map();
  }

  /**
   * Registered workers whose process is alive. Forgets the dead (their znodes, which would
   * otherwise linger until their session expires) and kills the living whose registration is
   * gone (a frozen worker whose session expired must not wake up and act).
   */
  async read(): Promise<WorkerInfo[]> {
    const { workforce, logger } = this.options;
    const registered = await this.registered();
    const running = new Map(workforce.running().map((worker) => [worker.workerId, worker]));
    for (const worker of registered) {
      if (!running.has(worker.workerId)) await this.forgetDead(worker.workerId);
    }
    const registeredIds = new Set(registered.map((worker) => worker.workerId));
    const sessionLost = [...running.values()].filter((worker) => !registeredIds.has(worker.workerId) && !workforce.isStarting(worker.workerId) && !workforce.isStopping(worker.workerId));
    // All at once: each kill may wait its confirmation's bound (a lost host's workers cannot confirm), and the pass waits for them.
    await Promise.all(
      sessionLost.map(async (worker) => {
        logger.warn({ workerId: worker.workerId, pid: worker.pid }, 'worker lost its ZooKeeper session; killing it');
        // Best effort: were it an old master still alive, its commit records are refused once a successor takes its epoch.
        await workforce.killBestEffort(worker.workerId, 'session-lost');
        await this.forgetDead(worker.workerId);
      }),
    );
    const live = registered.filter((worker) => running.has(worker.workerId));
    this.options.failover.noteLiveSet(this.lastSeen.values(), live);
    this.lastSeen = new Map(live.map((worker) => [worker.workerId, worker]));
    return live;
  }

  /** A worker known dead leaves the list at once, not when its session expires. */
  async forgetDead(workerId: string): Promise<void> {
    // Two nodes, neither the other's concern: at once (a dead master's costs the failover's time).
    await Promise.all([forgetWorker(this.options.zk, this.options.cluster, workerId), clearMasterLease(this.options.zk, this.options.cluster, workerId)]);
  }

  /** The registered workers; re-arms the one-shot children watch, so a vanishing znode (session expiry) triggers a pass. */
  private async registered(): Promise<WorkerInfo[]> {
    if (this.watchArmed) return listWorkers(this.options.zk, this.options.cluster);
    this.watchArmed = true;
    try {
      return await listWorkers(this.options.zk, this.options.cluster, () => {
        this.watchArmed = false;
        this.options.changed();
      });
    } catch (error) {
      this.watchArmed = false;
      throw error;
    }
  }
}
