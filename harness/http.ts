/**
 * The one HTTP client of the tests, the fault harness and the benchmarks (undici). Every call has
 * a deadline on the whole exchange; a body goes as JSON or as exact bytes, and nothing is added
 * unasked (no user agent, no content type for raw bytes), so a test sends exactly what it means
 * to. The answer comes back whole: status, headers, the text, and the text parsed as JSON.
 * Calls share undici's global keep-alive agent, unless a client owns a pool of a fixed size
 * (load generation).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Pool, request as send, type Dispatcher } from 'undici';

export const DEFAULT_TIMEOUT_MS = 30_000;

export interface RequestOptions {
  /** A value to send as JSON (with `content-type: application/json` unless the headers name one). */
  json?: unknown;
  /** Bytes to send exactly as they are, with only the headers given. */
  raw?: string;
  headers?: Record<string, string>;
  /** The whole exchange (connection, answer and body) ends within this; default 30 s. */
  timeoutMs?: number | undefined;
  /** A pool to send through instead of the global agent. */
  dispatcher?: Dispatcher | undefined;
}

export interface HttpResponse<T = unknown> {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as it came. */
  text: string;
  /** The body parsed as JSON: undefined when empty, the text itself when it is not JSON. */
  body: T;
}

/** The headers and body to send: JSON (typed as such unless the headers say otherwise) or exact bytes. */
function outgoing(options: RequestOptions): { headers: Record<string, string>; body: string | undefined } {
  const headers: Record<string, string> = { ...options.headers };
  if (options.json === undefined) return { headers, body: options.raw };
  headers['content-type'] ??= 'application/json';
  return { headers, body: JSON.stringify(options.json) };
}

export async function request<T = unknown>(method: string, url: string, options: RequestOptions = {}): Promise<HttpResponse<T>> {
  const { headers, body } = outgoing(options);
  const response = await send(url, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text, body: parseJson(text) as T };
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function pooledRequest<T>(pool: Pool, method: string, path: string, options: RequestOptions): Promise<HttpResponse<T>> {
  const { headers, body } = outgoing(options);
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const response = await pool.request({ method: method as Dispatcher.HttpMethod, path, headers, body, headersTimeout: timeout, bodyTimeout: timeout });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text, body: parseJson(text) as T };
}

export const get = <T = unknown>(url: string, options?: RequestOptions) => request<T>('GET', url, options);
export const post = <T = unknown>(url: string, json?: unknown, options?: RequestOptions) => request<T>('POST', url, { ...options, json });
export const put = <T = unknown>(url: string, json?: unknown, options?: RequestOptions) => request<T>('PUT', url, { ...options, json });

export interface ClientOptions {
  /**
   * A keep-alive pool of its own with this many connections (one request each at a time); close()
   * ends it. Made for load generation, so its calls are lean: no URL to parse, no abort signal
   * (undici's own timers bound the wait for the head and for each part of the body instead).
   */
  connections?: number;
  /** The deadline of each of its calls, unless a call gives its own. */
  timeoutMs?: number;
  /** Sent with each of its calls (a call's own headers win), e.g. a bearer token. */
  headers?: Record<string, string>;
}

/** Calls to one origin (`http://host:port`), by path. */
export function httpClient(origin: string, options: ClientOptions = {}) {
  const pool = options.connections === undefined ? undefined : new Pool(origin, { connections: options.connections, pipelining: 1 });
  const call = <T = unknown>(method: string, path: string, callOptions: RequestOptions = {}) => {
    const merged = { timeoutMs: options.timeoutMs, ...callOptions, headers: { ...options.headers, ...callOptions.headers } };
    return pool ? pooledRequest<T>(pool, method, path, merged) : request<T>(method, `${origin}${path}`, merged);
  };
  return {
    origin,
    call,
    get: <T = unknown>(path: string) => call<T>('GET', path),
    put: <T = unknown>(path: string, json?: unknown) => call<T>('PUT', path, { json }),
    post: <T = unknown>(path: string, json?: unknown) => call<T>('POST', path, { json }),
    delete: <T = unknown>(path: string) => call<T>('DELETE', path),
    /** Ends its pool, if it has one. */
    close: (): Promise<void> => pool?.close() ?? Promise.resolve(),
  };
}

export type HttpClient = ReturnType<typeof httpClient>;

/** Runs `tasks` with at most `limit` in flight. */
export async function inParallel<T>(count: number, limit: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  });
  await Promise.all(lanes);
  return results;
}
