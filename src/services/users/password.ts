/** A password is a SHA-1 hex digest: exactly 40 hexadecimal digits, either case, stored as sent. */
export const PASSWORD_PATTERN = /^[0-9a-fA-F]{40}$/;

export function isValidPassword(value: unknown): value is string {
  return typeof value === 'string' && PASSWORD_PATTERN.test(value);
}
