/**
 * Error codes as they travel between the processes of the database service: plain strings with
 * no HTTP meaning (the HTTP edge maps them, see src/shared/errors.ts). A worker answers with one
 * of these; anything else a peer sends is read as INTERNAL.
 */

export const WIRE_ERROR_CODES = ['BAD_REQUEST', 'CONFLICT', 'UNIQUE_VIOLATION', 'FOREIGN_KEY_VIOLATION', 'RESULT_TOO_LARGE', 'UNAVAILABLE', 'TIMEOUT', 'INTERNAL'] as const;

export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

export function isWireErrorCode(value: unknown): value is WireErrorCode {
  return typeof value === 'string' && (WIRE_ERROR_CODES as readonly string[]).includes(value);
}

/**
 * A message from a peer that cannot be read as the protocol says (shape, version): the registry's
 * MALFORMED_MESSAGE (src/shared/errors.ts), named here as a string since protocol imports nothing.
 */
export class MalformedMessageError extends Error {
  readonly code = 'MALFORMED_MESSAGE' as const;

  constructor(message: string) {
    super(message);
    this.name = 'MalformedMessageError';
  }
}

/** A request that breaks the protocol's rules (shape, table, column, value): BAD_REQUEST. */
export class InvalidRequestError extends Error {
  readonly code = 'BAD_REQUEST' as const;

  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}
