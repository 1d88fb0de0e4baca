/**
 * A worker runtime's life, the same for every kind: open from its creation; closing once close()
 * is called, while what it has begun finishes and its workers stop; closed after that, for good.
 */
import { RideShareError } from '../../shared/errors.ts';

export type RuntimeState = 'open' | 'closing' | 'closed';

export class RuntimeLifecycle {
  private current: RuntimeState = 'open';
  private closed: Promise<void> | undefined;

  get state(): RuntimeState {
    return this.current;
  }

  /** Nothing new (a start, an adoption) begins once close() was called. */
  assertOpen(action: string): void {
    if (this.current !== 'open') throw new RideShareError('INVALID_STATE', `cannot ${action}: the runtime is ${this.current}`);
  }

  /** Runs `shutdown` once; a second call returns the first one's promise. */
  close(shutdown: () => Promise<void>): Promise<void> {
    this.closed ??= (async () => {
      this.current = 'closing';
      try {
        await shutdown();
      } finally {
        this.current = 'closed';
      }
    })();
    return this.closed;
  }
}
