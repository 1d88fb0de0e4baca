/**
 * An error that recurs the same way on every round of a loop (a supervisor's pass each second,
 * refused until an operator acts) is logged once, then again only every `intervalMs`, with how
 * often it recurred meanwhile: the log keeps saying what is wrong without drowning in it.
 */
import type { Logger } from './logger.ts';
import { monotonicNow } from './monotonic.ts';

export class RepeatedErrorLog {
  private last: { text: string; loggedAt: number; since: number } | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly intervalMs = 30_000,
  ) {}

  report(error: unknown): void {
    const text = error instanceof Error ? error.message : String(error);
    const now = monotonicNow();
    const last = this.last;
    if (last?.text === text && now - last.loggedAt < this.intervalMs) {
      last.since += 1;
      return;
    }
    this.logger.error({ err: error, ...(last?.text === text ? { failedAgain: last.since } : {}) }, this.message);
    this.last = { text, loggedAt: now, since: 0 };
  }
}
