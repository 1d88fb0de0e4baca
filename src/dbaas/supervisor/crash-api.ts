/**
 * The crash calls (`POST /api/v1/crash/master`, `/crash/slave`, docs/database-api.md): a worker
 * killed on request, to see failover happen. They act between reconcile passes and leave the
 * repair to the next one, so they live beside the loop rather than in it: each kill is told as
 * `crash-api` in the worker's exit, and the victim leaves the worker list at once, so the pass it
 * triggers already sees it gone.
 */
import { RideShareError } from '../../shared/errors.ts';
import type { WorkerInfo } from '../coordination/worker-registry.ts';
import type { LiveWorkers } from './LiveWorkers.ts';
import type { Workforce } from './Workforce.ts';

export class CrashApi {
  constructor(
    private readonly liveWorkers: LiveWorkers,
    private readonly workforce: Workforce,
  ) {}

  /** crash/master: kills the master; supervision then elects a successor and starts a slave. */
  async crashMaster(): Promise<number> {
    const master = (await this.liveWorkers.read()).find((worker) => worker.role === 'master');
    if (!master) throw new RideShareError('CONFLICT', 'there is no master to crash (a failover is in progress)');
    return this.kill(master);
  }

  /** crash/slave: kills the slave with the highest pid; supervision starts a replacement. */
  async crashSlave(): Promise<number> {
    const slaves = (await this.liveWorkers.read()).filter((worker) => worker.role === 'slave').sort((a, b) => b.pid - a.pid);
    const victim = slaves[0];
    if (!victim) throw new RideShareError('CONFLICT', 'there is no slave to crash: only the master is running');
    return this.kill(victim);
  }

  /** The victim's pid, which the call answers. */
  private async kill(victim: WorkerInfo): Promise<number> {
    await this.workforce.kill(victim.workerId, 'crash-api');
    await this.liveWorkers.forgetDead(victim.workerId);
    return victim.pid;
  }
}
