/** Size limits shared by the services and the gateway. */

/** Well above a 100 kB username (which must be a clean 400, not a 413) and far below memory trouble. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Node refuses request heads above 16 KiB with its own 431 body; a 100 kB name in a path must
 * instead reach a handler and get the common 400.
 */
export const MAX_HEADER_BYTES = 256 * 1024;
