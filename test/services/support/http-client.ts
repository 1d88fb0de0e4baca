/** Exact HTTP calls for service tests: the body is sent as given, no header is added unasked. */
import { request } from 'undici';

export interface CallOptions {
  /** A value to send as JSON (with `Content-Type: application/json`). */
  json?: unknown;
  /** Bytes to send exactly as they are, with only the headers given. */
  raw?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined when empty or not JSON. */
  body: unknown;
}

export async function call(method: string, url: string, options: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined = options.raw;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] ??= 'application/json';
  }
  const response = await request(url, { method: method as 'GET', headers, body, signal: AbortSignal.timeout(30_000) });
  const text = await response.body.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    parsed = undefined;
  }
  return { status: response.statusCode, headers: response.headers, text, body: parsed };
}

/** A base URL with convenience methods. */
export function client(baseUrl: string) {
  return {
    call: (method: string, path: string, options?: CallOptions) => call(method, `${baseUrl}${path}`, options),
    get: (path: string) => call('GET', `${baseUrl}${path}`),
    put: (path: string, json: unknown) => call('PUT', `${baseUrl}${path}`, { json }),
    post: (path: string, json?: unknown) => call('POST', `${baseUrl}${path}`, json === undefined ? {} : { json }),
    delete: (path: string) => call('DELETE', `${baseUrl}${path}`),
  };
}

export type Client = ReturnType<typeof client>;
