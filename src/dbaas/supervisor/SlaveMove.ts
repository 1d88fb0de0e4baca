/**
 * Moving a slave that sits on the wrong host (AssignedRuntime.misplacedSlave): on the master's
 * host once another host can take it (its agent came up after the slave started), or on a host
 * with two more workers than another. Apart from the reconcile loop because a move outlives the
 * pass that starts it: its successor starts first and the slave retires once that one is ready,
 * so the cluster never has fewer slaves, and meanwhile the loop wants one slave more
 * (`underway`).
 */
import type { Logger } from '../../shared/logger.ts';
import type { WorkerInfo } from '../coordination/worker-registry.ts';
import type { WorkerRuntime } from '../runtime/WorkerRuntime.ts';
import type { Workforce } from './Workforce.ts';

export interface SlaveMoveOptions {
  runtime: WorkerRuntime;
  workforce: Workforce;
  /** Called when a move ends, done or failed: a pass is due. */
  ended: () => void;
  logger: Logger;
}

export class SlaveMove {
  /** A slave moving to another host: its successor starts first, so one slave more is wanted meanwhile. */
  private moving = false;

  constructor(private readonly options: SlaveMoveOptions) {}

  /** True from the move's start until its slave's retirement begins (or the move fails). */
  get underway(): boolean {
    return this.moving;
  }

  /**
   * Starts moving a misplaced slave, if one is, no move is under way, every worker is ready and a
   * master runs. The successor starts where the runtime places it, then the slave retires.
   */
  startIfMisplaced(live: readonly WorkerInfo[]): void {
    if (this.moving || !live.every((worker) => worker.ready) || !live.some((worker) => worker.role === 'master')) return;
    const misplaced = this.options.runtime.misplacedSlave?.(live);
    if (misplaced === undefined) return;
    this.moving = true;
    void (async () => {
      try {
        this.options.logger.info({ workerId: misplaced }, 'moving a slave to another host (off the master\u2019s, or off one with more workers): its successor starts there first');
        await this.options.workforce.start('slave', 'replacement');
        // No pass runs between these two lines: the next one counts the slave as retiring, not as wanted.
        this.moving = false;
        await this.options.workforce.retire(misplaced);
      } catch (error) {
        this.options.logger.warn({ err: error, workerId: misplaced }, 'moving a slave to another host failed');
      } finally {
        this.moving = false;
        this.options.ended();
      }
    })();
  }
}
