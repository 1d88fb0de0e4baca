/**
 * Every error code of the system in one registry: the HTTP status it answers with at an HTTP edge
 * and whether a caller may retry it. Code throws coded errors; `errorBody` is the only place an
 * error response body is shaped (src/shared/http/errors.ts sends it). Messages between processes
 * carry only the code (src/dbaas/protocol/wire-errors.ts), never a status.
 */

export interface ErrorSpec {
  status: number;
  /** A transient failure: the same request may succeed later (a write keeps its request id). */
  retriable: boolean;
}

export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, retriable: false },
  /** No credentials, or credentials nobody issued. */
  UNAUTHENTICATED: { status: 401, retriable: false },
  /** Valid credentials of a role not allowed to do this. */
  FORBIDDEN: { status: 403, retriable: false },
  NOT_FOUND: { status: 404, retriable: false },
  METHOD_NOT_ALLOWED: { status: 405, retriable: false },
  /** A request body over the limit (src/shared/http/limits.ts). */
  PAYLOAD_TOO_LARGE: { status: 413, retriable: false },
  CONFLICT: { status: 409, retriable: false },
  UNIQUE_VIOLATION: { status: 409, retriable: false },
  FOREIGN_KEY_VIOLATION: { status: 409, retriable: false },
  /** A read's answer would exceed the bound on one reply (src/dbaas/protocol/reply-bound.ts): ask for fewer rows or columns. */
  RESULT_TOO_LARGE: { status: 413, retriable: false },
  /** A lease (master, supervisor) or a cluster name is held by someone else. */
  TAKEN: { status: 409, retriable: false },
  /** One client holds as much of a shared resource as one client may (e.g. cluster stream slots). */
  TOO_MANY_REQUESTS: { status: 429, retriable: true },
  UNAVAILABLE: { status: 503, retriable: true },
  TIMEOUT: { status: 503, retriable: true },
  /**
   * SQLite ended a group's whole transaction (disk full, I/O error, out of memory): none of the
   * group is applied, and the master that saw it stops (docs/guarantees.md).
   */
  TRANSACTION_ABORTED: { status: 503, retriable: true },
  /** A supervisor's lease is lost or in doubt (its ZooKeeper session): it acts no more. */
  LEASE_LOST: { status: 503, retriable: true },
  /**
   * A master's epoch-checked commit record was refused: /epoch moved on (a successor took a new
   * epoch), so this master answers nothing more and stops (docs/guarantees.md).
   */
  FENCED: { status: 503, retriable: true },
  /** ZooKeeper refused or failed an operation (its own code is kept on the error). */
  ZOOKEEPER: { status: 503, retriable: true },
  /**
   * A peer's message or answer breaks the protocol (its shape, version or headers): another peer,
   * or the same one after an upgrade, may answer properly.
   */
  MALFORMED_MESSAGE: { status: 503, retriable: true },
  /** A copy differs from what its source declared (size, checksum, position): taken again, it may be whole. */
  INTEGRITY: { status: 503, retriable: true },
  /** A process or server did not become ready (it exited first, or not in time); a later start may. */
  START_FAILED: { status: 503, retriable: true },
  /** A setting is missing or invalid: the process cannot start. */
  CONFIG_INVALID: { status: 500, retriable: false },
  /** A call made in a state that forbids it (a second start, a promotion of a worker that is no slave, a closed runtime). */
  INVALID_STATE: { status: 500, retriable: false },
  /** Our own assumption broke (a bug): what a caller sees as an internal error. */
  INVARIANT: { status: 500, retriable: false },
  INTERNAL: { status: 500, retriable: false },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class RideShareError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  /** Transient failures a caller may retry (the same request id keeps a retried write single). */
  get retriable(): boolean {
    return ERROR_CODES[this.code].retriable;
  }
}

export class BadRequestError extends RideShareError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BAD_REQUEST', message, options);
  }
}

export class UnavailableError extends RideShareError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAVAILABLE', message, options);
  }
}

export class TimeoutError extends RideShareError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TIMEOUT', message, options);
  }
}

export interface ErrorBody {
  error: string;
  code: ErrorCode;
}

export function errorBody(error: RideShareError): ErrorBody {
  return { error: error.message, code: error.code };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}
