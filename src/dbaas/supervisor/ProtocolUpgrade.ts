/**
 * A supervisor that finds workers of another protocol version among the cluster's (it adopted
 * them from an orchestrator of the previous release during a rolling upgrade) cannot command
 * them: they refuse its messages and it refuses theirs. Workers of an OLDER protocol are
 * replaced: every worker is stopped gracefully (a bounded wait for its exit, SIGKILL after), and
 * the cluster restarts from the most advanced file with a master of this version
 * (restart-sources.ts), the slaves starting beside it and copying from it once it serves. A worker of a NEWER protocol (a downgrade) is never mixed with workers of this one
 * nor killed: it is reported loudly and this supervisor starts and stops nothing while it runs.
 *
 * Called once per reconcile pass, before anything else (Supervisor.ts): when it acted or
 * refuses to act, the pass ends there.
 */
import type { Logger } from '../../shared/logger.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import type { WorkerInfo } from '../coordination/worker-registry.ts';
import { protocolOf } from '../protocol/worker-protocol.ts';
import type { WorkerHandle } from '../runtime/WorkerRuntime.ts';
import type { SupervisionJournal } from './SupervisionJournal.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

/** How long a worker of the older protocol gets to answer what it holds and exit before SIGKILL. */
export const UPGRADE_STOP_GRACE_MS = 5000;

export interface ProtocolUpgradeDeps {
  /** Stops a worker on purpose (its exit is no crash), waiting for its exit within the grace; its files stay. */
  stopWorker(workerId: string, graceMs: number): Promise<void>;
  /** A master of this version from the most advanced file of the cluster. */
  startMasterFromFiles(): Promise<WorkerHandle>;
  /** Starts the desired slaves in the background; each copies from the master once it serves. */
  startSlaves(): Promise<void>;
  journal: SupervisionJournal;
  logger: Logger;
}

export class ProtocolUpgrade {
  /** Workers of a newer protocol already reported, so a pass a second does not repeat it. */
  private readonly reportedNewer = new Set<string>();

  constructor(private readonly deps: ProtocolUpgradeDeps) {}

  /**
   * `replaced`: workers of an older protocol were replaced by a master of this one; `refused`: a
   * worker of a newer protocol runs; either way the pass ends here. `none`: all speak ours.
   */
  async handle(live: WorkerInfo[]): Promise<'none' | 'replaced' | 'refused'> {
    const newer = live.filter((worker) => protocolOf(worker) > PROTOCOL_VERSION);
    if (newer.length > 0) {
      this.reportNewer(newer);
      return 'refused';
    }
    const older = live.filter((worker) => protocolOf(worker) < PROTOCOL_VERSION);
    if (older.length === 0) return 'none';
    await this.replace(live, older);
    return 'replaced';
  }

  private reportNewer(newer: WorkerInfo[]): void {
    const unreported = newer.filter((worker) => !this.reportedNewer.has(worker.workerId));
    if (unreported.length === 0) return;
    for (const worker of unreported) this.reportedNewer.add(worker.workerId);
    this.deps.logger.error(
      { ourProtocol: PROTOCOL_VERSION, workers: unreported.map((worker) => ({ workerId: worker.workerId, pid: worker.pid, role: worker.role, protocol: protocolOf(worker) })) },
      'workers of a NEWER protocol run in this cluster (a downgrade?): this supervisor will not command, replace or join them; stop this orchestrator or upgrade it',
    );
  }

  /**
   * Every worker goes, not only the older ones: a worker of this version that a previous attempt
   * started beside them cannot follow an older master anyway. Slaves first, the master last, so
   * the master's file, which holds every acknowledged write, is the most advanced one left.
   */
  private async replace(live: WorkerInfo[], older: WorkerInfo[]): Promise<void> {
    const started = monotonicNow();
    const from = [...new Set(older.map(protocolOf))].sort().join(', ');
    this.deps.logger.warn(
      { ourProtocol: PROTOCOL_VERSION, workers: older.map((worker) => ({ workerId: worker.workerId, pid: worker.pid, role: worker.role, protocol: protocolOf(worker) })) },
      `replacing the workers of protocol ${from} with workers of protocol ${PROTOCOL_VERSION}: stopping them, then restarting from their files`,
    );
    const ordered = [...live].sort((a, b) => (a.role === b.role ? 0 : a.role === 'master' ? 1 : -1));
    for (const worker of ordered) await this.deps.stopWorker(worker.workerId, UPGRADE_STOP_GRACE_MS);
    // The slaves boot while the master does (a joining slave asks for the master's position until
    // one answers): reads come back a slave's start-up sooner. Nothing of theirs is on disk before
    // the master serves, so its restart from the files cannot take their files for old ones.
    const [master] = await Promise.all([this.deps.startMasterFromFiles(), this.deps.startSlaves()]);
    const durationMs = monotonicNow() - started;
    this.deps.logger.info({ workerId: master.workerId, pid: master.pid, durationMs }, `a master of protocol ${PROTOCOL_VERSION} serves; the slaves follow`);
    this.deps.journal.record({
      kind: 'failover',
      workerId: master.workerId,
      pid: master.pid,
      epoch: 0,
      durationMs,
      reason: `protocol upgrade: ${live.length} worker(s) of protocol ${from} stopped, a master of protocol ${PROTOCOL_VERSION} restarted from their files`,
    });
  }
}
