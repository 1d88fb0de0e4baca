/**
 * How long a connected ZooKeeper client may hear nothing from its server before it counts its
 * link as dead (LinkWatch.ts) or gives up on a connection whose handshake is never answered
 * (HandshakeWatch.ts): a share of the session timeout, chosen against what is left of the
 * session once the client has noticed.
 */
/**
 * The share of the session timeout a connected client may hear nothing from the server before
 * it counts its link as dead: under a third, so that a holder of something ephemeral stops
 * acting (ZkClient's holdsSession() false) with two thirds of the session timeout still to go before the
 * ensemble may give it to someone else. The watch asks every tenth of the session timeout, so
 * an answer may take up to a fifth of it before the link is wrongly counted as dead.
 */
const SILENCE_SHARE = 0.3;
/**
 * With short sessions (the tests' 1 s) a third is a few hundred ms, which a loaded machine's
 * ZooKeeper can take to answer: the limit is then raised toward this floor, never past half the
 * session timeout, which still leaves half of it to go.
 */
const SILENCE_FLOOR_MS = 600;

/** How long a connected client may hear nothing from the server before its link counts as dead. */
export function silenceLimitFor(sessionTimeoutMs: number): number {
  return Math.floor(Math.max(sessionTimeoutMs * SILENCE_SHARE, Math.min(sessionTimeoutMs / 2, SILENCE_FLOOR_MS)));
}
