/**
 * The chaos clients' calls, on the harness's HTTP client. Unlike a test's call a failure is a
 * value, not a throw: during a failover refused connections and timeouts are expected outcomes
 * to count and retry.
 */
import { sleep } from '../../src/shared/timeout.ts';
import { request } from '../http.ts';

export interface Outcome<T = unknown> {
  /** The HTTP status, or 0 when no answer came (refused, reset, timed out). */
  status: number;
  /** The answer parsed as JSON; a body that is not JSON stays text, as evidence for the report. */
  body?: T;
  error?: string;
}

export async function call<T = unknown>(method: 'GET' | 'POST', url: string, body: unknown, timeoutMs: number, headers?: Record<string, string>): Promise<Outcome<T>> {
  try {
    const response = await request<T>(method, url, { json: body, timeoutMs, ...(headers ? { headers } : {}) });
    return { status: response.status, body: response.body };
  } catch (error) {
    return { status: 0, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

/**
 * Statuses a client may retry with the same request id, since the write may or may not have been
 * applied. A 500 is retried too (the request id makes that safe) but the report shows it.
 */
export function isRetryable(status: number): boolean {
  return status === 0 || status === 500 || status === 502 || status === 503 || status === 504;
}

/** A db/write retried with the same body (and so the same request id) until it is answered for good. */
export async function writeUntilAnswered<T = unknown>(orchestratorUrl: string, body: unknown, deadlineMs: number): Promise<Outcome<T>> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const outcome = await call<T>('POST', `${orchestratorUrl}/api/v1/db/write`, body, 8000);
    if (!isRetryable(outcome.status) || Date.now() > deadline) return outcome;
    await sleep(50);
  }
}
