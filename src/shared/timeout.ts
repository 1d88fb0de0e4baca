import { RideShareError, type ErrorCode } from './errors.ts';

/**
 * Rejects with a RideShareError of `code` when `promise` takes longer than `ms`; the message says
 * what did not happen (`message`) and within how long. The code is the caller's: TIMEOUT for a
 * step that may still be under way, UNAVAILABLE where the wait means a server is not there (a
 * caller may then go elsewhere at once).
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, code: ErrorCode, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RideShareError(code, `${message} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
