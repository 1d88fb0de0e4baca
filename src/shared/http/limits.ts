/** Size limits shared by the services and the gateway. */

/** Well above a 100 kB username (which must be a clean 400, not a 413) and far below memory trouble. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * How much of a body over BODY_LIMIT_BYTES is read and thrown away so that its sender can read the
 * 413 (oversized-body.ts): a few times the limit, so a 5 MB upload gets its answer; beyond it the
 * connection is cut, and the sender may see only that.
 */
export const DRAIN_LIMIT_BYTES = 8 * BODY_LIMIT_BYTES;

/**
 * Node refuses request heads above 16 KiB with its own 431 body; a 100 kB name in a path must
 * instead reach a handler and get the common 400.
 */
export const MAX_HEADER_BYTES = 256 * 1024;

/**
 * Time limits that keep a slow or silent client from holding a socket (slow-loris): the request
 * head must arrive within HEADERS_TIMEOUT_MS and the whole request within REQUEST_TIMEOUT_MS of
 * the connection's first byte; a socket with no traffic at all is closed after IDLE_TIMEOUT_MS
 * (the console's event stream sends a heartbeat well within it); an idle keep-alive connection
 * after KEEP_ALIVE_TIMEOUT_MS. A handler's own work is not limited here: its calls have their own
 * timeouts.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 15_000;
export const IDLE_TIMEOUT_MS = 60_000;
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
