/**
 * The request id of the HTTP request being served, available to everything that request calls
 * (the services' database client, the rides service's lookups) without passing it through every
 * function. It is made at the gateway, or taken from a valid `X-Request-Id`, and travels in that
 * header from hop to hop and into the database service's messages, so one grep follows a request.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

export const REQUEST_ID_HEADER = 'x-request-id';

/** Ids a client may choose: short, and safe to log and to embed in a write's idempotency key. */
const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

interface RequestContext {
  requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The id a request goes by: the caller's when it is a valid one, else a new one. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given !== undefined && VALID_REQUEST_ID.test(given) ? given : randomUUID();
}

export function isValidRequestId(id: string): boolean {
  return VALID_REQUEST_ID.test(id);
}

/** Runs `work` (and everything it starts) as part of request `requestId`. */
export function runInRequest<T>(requestId: string, work: () => T): T {
  return storage.run({ requestId }, work);
}

/** The id of the request being served, if any. */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** The header to send onward to the next hop, or none outside a request. */
export function requestIdHeaders(): Record<string, string> {
  const requestId = currentRequestId();
  return requestId === undefined ? {} : { [REQUEST_ID_HEADER]: requestId };
}

/**
 * An idempotency key for one write made while serving `requestId`: the request id and a whole
 * random UUID (122 random bits), so a grep for the request id finds the write on the master and
 * every replica, while writes made under the same request id never share a key, however many
 * there are (clients, proxies and SDKs that send one X-Request-Id on every request exist). A key
 * the caller means as such is db/write's `requestId` (docs/database-api.md).
 */
export function writeIdFor(requestId: string | undefined): string {
  const unique = randomUUID();
  return requestId === undefined ? unique : `${requestId}/${unique}`;
}
