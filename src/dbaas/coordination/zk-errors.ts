/**
 * How a failed ZooKeeper operation reaches callers: a RideShareError that keeps ZooKeeper's own
 * code, so callers branch on NO_NODE, BAD_VERSION or a lost connection without knowing the
 * library's exception type.
 */
import zookeeper from 'node-zookeeper-client';
import { RideShareError } from '../../shared/errors.ts';

export function isZkError(error: unknown, code: number): boolean {
  const candidate = error as { zkCode?: unknown; code?: unknown } | null;
  return candidate?.zkCode === code || candidate?.code === code;
}

export const ZkErrorCode = {
  NO_NODE: zookeeper.Exception.NO_NODE,
  NODE_EXISTS: zookeeper.Exception.NODE_EXISTS,
  BAD_VERSION: zookeeper.Exception.BAD_VERSION,
  NOT_EMPTY: zookeeper.Exception.NOT_EMPTY,
  /** The node's ACL does not let this client's credentials (or an anonymous client) do that. */
  NO_AUTH: zookeeper.Exception.NO_AUTH,
  SESSION_EXPIRED: zookeeper.Exception.SESSION_EXPIRED,
  /** The connection dropped with the request in flight: it may or may not have been applied. */
  CONNECTION_LOSS: zookeeper.Exception.CONNECTION_LOSS,
};

/** A failed ZooKeeper operation; `zkCode` is ZooKeeper's own code, for callers that branch on it. */
export class ZooKeeperError extends RideShareError {
  constructor(
    message: string,
    readonly zkCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super('ZOOKEEPER', message, options);
  }
}

/** A versioned transaction refused because the node it checks moved on or is gone (checkAndSet). */
export class FencedError extends RideShareError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FENCED', message, options);
  }
}

export function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  // The library's Exception is not an Error; keep its code so callers can branch on it.
  const exception = error as { code?: number; toString(): string };
  return new ZooKeeperError(exception.toString(), exception.code, { cause: error });
}
