/**
 * A read whose connection dropped while it was out is asked again, on the same session.
 *
 * CONNECTION_LOSS says only that the link went down with the request in flight; the library
 * reconnects, and the session goes on if a server answers within the session timeout. A read
 * changes nothing, so asking again once the link is back gives the caller the answer it wanted
 * instead of an error for a blip. Only on the session the read was sent on: once that session
 * is over (expired, declared lost, renewed, the client closed) the loss is the caller's to
 * handle, as it is for a view pinned to a session. The caller's deadline bounds the whole read,
 * waits and attempts together: `settled` turns true when it passed, and nothing is sent after.
 *
 * Writes never come here: a write lost with its connection may have been applied or not, and
 * sending it again could apply it twice or fail for having been applied (NODE_EXISTS,
 * BAD_VERSION); only its caller knows how to find out.
 *
 * A read's watcher is registered at most once. node-zookeeper-client registers a watcher only
 * when the answer arrives, never on an error; and ZooKeeper keeps a watch with the connection
 * that set it and drops it when that connection closes (on the next one the client sets again
 * the watches it registered). So the watcher of a read lost with its connection is registered
 * nowhere, and the retry's registration is its only one. (The library also ignores the same
 * function registered twice for the same node.)
 */
import { isZkError, ZkErrorCode } from './zk-errors.ts';

/** The session an attempt was sent on: its number, and the signal fired when it ends. */
export interface SessionMark {
  session: number;
  end: Promise<void>;
}

export interface LostReadRetry {
  /**
   * Settles once the read may be sent again: true when the link is up on the session the lost
   * attempt was sent on, false when that session is over. Also false when the link is not even
   * marked down: the client marks it down before the lost request's caller hears of the loss
   * (the library reports the state change in the same turn), so such a loss is none the client
   * saw the link go down for, and asking again at once could spin without ever yielding to the
   * timeout.
   */
  linkBack(): Promise<boolean>;
  /** True once the caller has its answer or its timeout: no attempt is sent after that. */
  settled(): boolean;
}

export async function retryingLostReads<T>(attempt: () => Promise<T>, retry: LostReadRetry): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!isZkError(error, ZkErrorCode.CONNECTION_LOSS)) throw error;
      if (retry.settled() || !(await retry.linkBack()) || retry.settled()) throw error;
    }
  }
}
