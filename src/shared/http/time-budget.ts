/**
 * How long a caller will wait for a database write, sent with the call: the orchestrator gives the
 * write a deadline within it, so a caller that gives up (and answers its own client 503) never
 * sees the write applied afterwards. Relative milliseconds, not a time of day: the caller's and
 * the orchestrator's clocks need not agree.
 */
export const TIME_BUDGET_HEADER = 'x-rideshare-time-budget-ms';

/** The budget a request carries, if it carries a usable one. */
export function timeBudgetOf(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^[0-9]{1,7}$/.test(value)) return undefined;
  const budget = Number(value);
  return budget > 0 ? budget : undefined;
}
