/**
 * The rides service's question "does this user exist?", asked of the users service through the
 * gateway (as the original deployment did through its load balancer), one request per question,
 * with an `Origin` header naming this rides instance.
 */
import { Agent } from 'undici';
import { RideShareError, TimeoutError, UnavailableError } from '../../shared/errors.ts';
import { HEALTH_PATH, READY_CHECK_TIMEOUT_MS } from '../../shared/http/health.ts';
import { requestIdHeaders } from '../../shared/request-context.ts';

export interface UsersDirectoryOptions {
  /** The gateway's base URL (config GATEWAY_URL). */
  gatewayUrl: string;
  /** This instance's public host, sent as `Origin` (config RIDES_PUBLIC_HOST). */
  origin: string;
  /** Upper bound for one lookup (config HTTP_TIMEOUT_MS). */
  timeoutMs: number;
}

export class UsersDirectory {
  readonly #agent: Agent;
  readonly #gatewayUrl: URL;
  readonly #origin: string;
  readonly #timeoutMs: number;

  constructor(options: UsersDirectoryOptions) {
    this.#gatewayUrl = new URL(options.gatewayUrl);
    this.#origin = options.origin;
    this.#timeoutMs = options.timeoutMs;
    // Keep-alive, but no automatic retries: each lookup must reach the users service exactly once.
    this.#agent = new Agent({ headersTimeout: this.#timeoutMs, bodyTimeout: this.#timeoutMs, connectTimeout: this.#timeoutMs });
  }

  async exists(username: string): Promise<boolean> {
    const url = new URL('/api/v1/users', this.#gatewayUrl);
    url.searchParams.set('username', username);
    let status: number;
    try {
      const response = await this.#agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { origin: this.#origin, accept: 'application/json', ...requestIdHeaders() },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      status = response.statusCode;
      await response.body.dump();
    } catch (error) {
      if ((error as { name?: unknown } | null)?.name === 'TimeoutError') throw new TimeoutError('the users service did not answer in time');
      // biome-ignore lint/nursery/noBaseToString: a caught value is unknown; String() is the deliberate text for a non-Error throw
      throw new UnavailableError(`the users service is unreachable: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (status === 200) return true;
    if (status === 204) return false;
    if (status >= 500) throw new UnavailableError(`the users service is unavailable (${status})`);
    throw new RideShareError('INTERNAL', `the users service answered a lookup with ${status}`);
  }

  /** Whether the gateway the lookups go through answers at all (its /health): part of this instance's readiness, so bounded like it. */
  async reachable(): Promise<boolean> {
    try {
      const response = await this.#agent.request({ origin: this.#gatewayUrl.origin, path: HEALTH_PATH, method: 'GET', signal: AbortSignal.timeout(Math.min(this.#timeoutMs, READY_CHECK_TIMEOUT_MS)) });
      await response.body.dump();
      return response.statusCode === 200;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
