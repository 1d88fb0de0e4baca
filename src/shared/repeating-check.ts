/**
 * A check run every `intervalMs`, one at a time (the next waits for the one under way), until
 * stopped. The stop aborts the check's signal, so the child processes it runs are killed, and
 * resolves once that check has ended: nothing it started outlives its owner's stop.
 */
export interface RepeatingCheck {
  stop(): Promise<void>;
}

export function repeatEvery(intervalMs: number, check: (signal: AbortSignal) => Promise<void>, onError: (error: unknown) => void): RepeatingCheck {
  const abort = new AbortController();
  const { signal } = abort;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const schedule = () => {
    if (signal.aborted) return;
    timer = setTimeout(() => {
      running = check(signal)
        .catch((error: unknown) => {
          if (!signal.aborted) onError(error);
        })
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    stop: async () => {
      abort.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
