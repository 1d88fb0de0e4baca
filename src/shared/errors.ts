/**
 * Errors with stable codes. Handlers throw; one table (HTTP_STATUS) turns a code into a status,
 * and `errorBody` is the only place an error response body is shaped.
 */

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'CONFLICT'
  | 'UNIQUE_VIOLATION'
  | 'FOREIGN_KEY_VIOLATION'
  | 'UNAVAILABLE'
  | 'TIMEOUT'
  | 'INTERNAL';

export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  UNIQUE_VIOLATION: 409,
  FOREIGN_KEY_VIOLATION: 409,
  UNAVAILABLE: 503,
  TIMEOUT: 503,
  INTERNAL: 500,
};

export class RideShareError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }

  /** Transient failures a caller may retry (the same request id keeps a retried write single). */
  get retriable(): boolean {
    return this.code === 'UNAVAILABLE' || this.code === 'TIMEOUT';
  }
}

export class BadRequestError extends RideShareError {
  constructor(message: string) {
    super('BAD_REQUEST', message);
  }
}

export class UnavailableError extends RideShareError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
  }
}

export class TimeoutError extends RideShareError {
  constructor(message: string) {
    super('TIMEOUT', message);
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
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(HTTP_STATUS, value);
}
