/**
 * A promise-based ZooKeeper session with a timeout on every call. The session's loss is an
 * event (`expired`): whoever holds something through the session (a master's lease, a worker's
 * registration) must act on it at once. With `renew`, the client then opens a new session by
 * itself (retrying until it succeeds or is closed) and emits `renewed`: an orchestrator rejoins
 * that way, while a worker, whose lease died with the session, stops instead.
 *
 * With credentials, every session signs in with them (digest scheme) and every node it creates
 * carries the cluster's ACL (zk-acl.ts): only holders of the same credentials may change it.
 * ZooKeeper authenticates a connection, not a session, and node-zookeeper-client sends the
 * credentials again after a reconnection but behind whatever was queued meanwhile; so operations
 * wait for the link to be up before they are handed to the library, never running unsigned.
 *
 * The library alone never notices a link that went silent (a partition that drops packets): it
 * pings only an idle socket, and a ping written counts as activity, so it stays connected while
 * the ensemble expires its session. A LinkWatch asks the server a question several times per
 * session timeout; after 30 % of the session timeout without an answer the client reports itself
 * disconnected and drops the connection, so the library reconnects (keeping the session if a
 * server answers in time) and the session is declared lost a session timeout later. A read
 * lost with its connection meanwhile is asked again once the link is back, on the same session;
 * a write is not (read-retry.ts).
 */
import { EventEmitter } from 'node:events';
import zookeeper from 'node-zookeeper-client';
import type { z } from 'zod';
import type { Logger } from '../../shared/logger.ts';
import { withTimeout } from '../../shared/timeout.ts';
import { HandshakeWatch } from './HandshakeWatch.ts';
import { LinkWatch } from './LinkWatch.ts';
import { retryingLostReads, type SessionMark } from './read-retry.ts';
import { silenceLimitFor } from './silence-limit.ts';
import { decodeData, encodeData, NodeShapeCheck } from './znode-data.ts';
import { keepServerOrder, serversOf } from './zk-server-order.ts';
import { aclFor, digestAuth, OPEN_ACL, type ZkCredentials } from './zk-acl.ts';
import { asError, FencedError, isZkError, ZkErrorCode, ZooKeeperError } from './zk-errors.ts';

export type { ZkCredentials } from './zk-acl.ts';
export { FencedError, isZkError, ZkErrorCode, ZooKeeperError } from './zk-errors.ts';

export interface ZkClientOptions {
  connect: string;
  sessionTimeoutMs: number;
  /** Upper bound for one operation, connecting included. */
  operationTimeoutMs?: number;
  /** Open a new session after an expiry (default false: expiry is final). */
  renew?: boolean;
  /** The cluster's digest credentials; without them the client is anonymous and creates open nodes. */
  credentials?: ZkCredentials;
  /** Told of nodes whose data does not have the shape their reader expects (readNode). */
  logger?: Logger;
}

export type ZkWatcher = (event: zookeeper.Event) => void;

export const CreateMode = zookeeper.CreateMode;

type Callback<T> = (error: unknown, value: T) => void;

/** Beyond the session timeout before a disconnected client counts its session as lost. */
const LOSS_MARGIN_MS = 500;
/** How long a renewal waits between attempts to open a new session, at most. */
const RENEW_MAX_DELAY_MS = 2000;
/** node-zookeeper-client's connection, which its typings do not show: dropping its socket makes the library reconnect, keeping the session. */
interface WithConnection {
  connectionManager?: { socket?: { destroy(): void; destroyed?: boolean } };
}

/** Events: `expired` (the session is gone), `renewed` (a new session is open), `disconnected`, `connected`. */
export class ZkClient extends EventEmitter {
  private client: zookeeper.Client;
  private readonly operationTimeoutMs: number;
  private closed = false;
  private readonly shapes: NodeShapeCheck;
  /** Running while disconnected: past the session timeout, the session is certainly gone. */
  private lossTimer: NodeJS.Timeout | undefined;
  /** Between an expiry and a renewed session: the old client's events mean nothing. */
  private sessionLost = false;
  private renewing = false;
  /** Counts the sessions this client has had: a renewal starts a new one. */
  private session = 0;
  /** Set on a view made by pinnedToSession(): the one session its operations may run on. */
  private readonly pinnedSession: number | undefined;
  /** Fired when the current session is lost: a pinned operation waiting for the link can then never run, and fails at once. */
  private sessionEnd = newSignal();
  /** Watches the current connection for silence while it is up. */
  private linkWatch: LinkWatch | undefined;
  /** Watches the connection attempts while the link is not up (HandshakeWatch.ts); only with more than one server to go to. */
  private handshakeWatch: HandshakeWatch | undefined;
  /** Set while the link is down (before the first connect, disconnected, renewing): operations wait for it. */
  private linkDown: { up: Promise<void>; resolve: () => void } | undefined;

  constructor(private readonly options: ZkClientOptions) {
    super();
    this.operationTimeoutMs = options.operationTimeoutMs ?? Math.max(5000, options.sessionTimeoutMs);
    this.shapes = new NodeShapeCheck(options.logger);
    this.markLinkDown();
    this.client = this.createSession();
  }

  async connect(): Promise<void> {
    await this.open(this.client);
    this.markLinkUp();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.lossTimer);
    this.stopWatchingLink();
    this.stopWatchingHandshake();
    this.client.close();
    this.markLinkUp();
  }

  private markLinkDown(): void {
    if (this.linkDown) return;
    let resolve!: () => void;
    const up = new Promise<void>((done) => (resolve = done));
    this.linkDown = { up, resolve };
  }

  private markLinkUp(): void {
    this.linkDown?.resolve();
    this.linkDown = undefined;
  }

  private createSession(): zookeeper.Client {
    const client = zookeeper.createClient(this.options.connect, { sessionTimeout: this.options.sessionTimeoutMs, spinDelay: 200, retries: 0 });
    // This host's server first, as ZK_CONNECT lists them; the library would shuffle them (zk-server-order.ts).
    keepServerOrder(client, this.options.connect);
    // Sent right after the handshake of every connection of this session, before any operation.
    if (this.options.credentials) client.addAuthInfo('digest', digestAuth(this.options.credentials));
    client.on('state', (state) => {
      if (client !== this.client || this.closed || this.sessionLost) return;
      if (state === zookeeper.State.EXPIRED) this.onExpired();
      else if (state === zookeeper.State.DISCONNECTED) this.onDisconnected();
      else if (state === zookeeper.State.SYNC_CONNECTED) this.onConnected();
    });
    return client;
  }

  private async open(client: zookeeper.Client): Promise<void> {
    const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
    this.watchHandshake(client);
    client.connect();
    try {
      await withTimeout(connected, this.operationTimeoutMs, 'TIMEOUT', `ZooKeeper at ${this.options.connect} did not answer`);
    } catch (error) {
      if (client === this.client) this.stopWatchingHandshake();
      throw error;
    }
  }

  /**
   * The library waits for ever on a reconnection whose handshake is never answered (a server
   * that accepted while booting): no session, no expiry. A client disconnected for longer than
   * its session timeout has lost its session whatever the server says later, so it is declared
   * lost here.
   */
  private onDisconnected(): void {
    this.stopWatchingLink();
    // Already disconnected (the watch said so before the library did): the loss is already timed.
    if (this.lossTimer) return;
    this.markLinkDown();
    this.emit('disconnected');
    this.watchHandshake(this.client);
    clearTimeout(this.lossTimer);
    this.lossTimer = setTimeout(() => {
      if (this.closed) return;
      this.client.close();
      this.onExpired();
    }, this.options.sessionTimeoutMs + LOSS_MARGIN_MS);
  }

  private onConnected(): void {
    clearTimeout(this.lossTimer);
    this.lossTimer = undefined;
    this.stopWatchingHandshake();
    this.watchLink();
    this.markLinkUp();
    this.emit('connected');
  }

  private watchLink(): void {
    this.stopWatchingLink();
    const client = this.client;
    this.linkWatch = new LinkWatch({
      silenceLimitMs: silenceLimitFor(this.options.sessionTimeoutMs),
      // Any node answers; the root always exists and everyone may ask about it.
      probe: (done) => client.exists('/', (error) => done(!error)),
      onSilent: () => this.onSilentLink(client),
    });
  }

  private stopWatchingLink(): void {
    this.linkWatch?.stop();
    this.linkWatch = undefined;
  }

  /** With a single server there is nowhere else to go: the loss timer alone bounds the wait. */
  private watchHandshake(client: zookeeper.Client): void {
    this.stopWatchingHandshake();
    if (this.serverCount < 2) return;
    const connection = (client as unknown as WithConnection).connectionManager;
    this.handshakeWatch = new HandshakeWatch({
      socket: () => (connection?.socket?.destroyed ? undefined : connection?.socket),
      drop: (socket) => {
        if (client !== this.client || this.closed) return;
        this.options.logger?.warn(
          { connect: this.options.connect, waitedMs: silenceLimitFor(this.options.sessionTimeoutMs) },
          'a ZooKeeper server accepted the connection but never answered it: trying the next one',
        );
        (socket as { destroy(): void }).destroy();
      },
      limitMs: silenceLimitFor(this.options.sessionTimeoutMs),
    });
  }

  private stopWatchingHandshake(): void {
    this.handshakeWatch?.stop();
    this.handshakeWatch = undefined;
  }

  private get serverCount(): number {
    return serversOf(this.options.connect).length;
  }

  /**
   * Reported at once; the connection is dropped so that the library connects again (to this
   * server or another one of the ensemble) and the session goes on if a server answers before
   * the session timeout. Were the library's connection out of reach, the loss timer still ends
   * the session.
   */
  private onSilentLink(client: zookeeper.Client): void {
    if (client !== this.client || this.closed || this.sessionLost) return;
    this.options.logger?.warn(
      { connect: this.options.connect, silentForMs: silenceLimitFor(this.options.sessionTimeoutMs) },
      'ZooKeeper has not answered for too long: the link counts as dead, reconnecting',
    );
    this.onDisconnected();
    (client as unknown as WithConnection).connectionManager?.socket?.destroy();
  }

  private onExpired(): void {
    this.stopWatchingLink();
    this.stopWatchingHandshake();
    this.sessionLost = true;
    this.sessionEnd.fire();
    clearTimeout(this.lossTimer);
    this.lossTimer = undefined;
    // Renewing: operations wait for the new session. Otherwise they fail at once (SESSION_EXPIRED).
    if (this.options.renew) this.markLinkDown();
    else this.markLinkUp();
    this.emit('expired');
    if (this.options.renew && !this.renewing) void this.renew();
  }

  private async renew(): Promise<void> {
    this.renewing = true;
    try {
      await this.openNewSession();
    } finally {
      this.renewing = false;
    }
  }

  private async openNewSession(): Promise<void> {
    for (let delay = 100; !this.closed; delay = Math.min(delay * 2, RENEW_MAX_DELAY_MS)) {
      this.client.close();
      this.client = this.createSession();
      this.sessionEnd.fire();
      this.sessionEnd = newSignal();
      this.session += 1;
      this.sessionLost = false;
      try {
        await this.open(this.client);
        if (this.closed) return;
        this.markLinkUp();
        this.emit('renewed');
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /**
   * A view of this client whose operations run only on the session open now: after that session
   * is lost they fail with SESSION_EXPIRED, even once the client has renewed its session. A
   * supervisor acts through such a view, so nothing it started under its lease can run after the
   * lease died with the session (an ephemeral lease belongs to one session). The view shares
   * everything else with this client (it is a prototype child: reads see the client's current
   * state; it never assigns).
   */
  pinnedToSession(): ZkClient {
    return Object.create(this, { pinnedSession: { value: this.session } }) as ZkClient;
  }

  /**
   * True while the session of a pinned view is the client's current one and connected. A
   * disconnected session may already have expired on the server (another orchestrator may hold
   * the lease), so a pinned holder must not act until it is connected again.
   */
  holdsSession(): boolean {
    return !this.closed && !this.sessionLost && this.linkDown === undefined && (this.pinnedSession === undefined || this.pinnedSession === this.session);
  }

  create(path: string, data: unknown, mode: number): Promise<string> {
    return this.call<string>((done) => this.client.create(path, encodeData(data), this.aclFor(path), mode, done));
  }

  /** Creates the node and its parents if missing (empty, persistent); an existing node is left as it is. */
  async ensurePath(path: string): Promise<void> {
    if (await this.exists(path)) return;
    const parts = path.split('/').filter((part) => part !== '');
    for (let depth = 1; depth <= parts.length; depth += 1) {
      const node = `/${parts.slice(0, depth).join('/')}`;
      try {
        await this.call<string>((done) => this.client.create(node, this.aclFor(node), CreateMode.PERSISTENT, done));
      } catch (error) {
        if (!isZkError(error, ZkErrorCode.NODE_EXISTS)) throw error;
      }
    }
  }

  /** The node's ACL, whether it is ephemeral, and its ACL version; undefined when there is no such node. */
  async getAclIfExists(path: string): Promise<{ acls: zookeeper.ACL[]; ephemeral: boolean; aversion: number } | undefined> {
    try {
      const [acls, stat] = await this.read<[zookeeper.ACL[], zookeeper.Stat]>((done) => this.client.getACL(path, (error, acls, stat) => done(error, [acls, stat])));
      return { acls, ephemeral: stat.ephemeralOwner.some((byte) => byte !== 0), aversion: stat.aversion };
    } catch (error) {
      if (isZkError(error, ZkErrorCode.NO_NODE)) return undefined;
      throw error;
    }
  }

  /** Gives the node the ACL this client gives the nodes it creates (at ACL version `aversion`, unless -1). */
  async setAcl(path: string, aversion = -1): Promise<void> {
    await this.call<zookeeper.Stat>((done) => this.client.setACL(path, this.aclFor(path), aversion, done));
  }

  private aclFor(path: string): zookeeper.ACL[] {
    return this.options.credentials ? aclFor(path, this.options.credentials) : OPEN_ACL;
  }

  async remove(path: string, version = -1): Promise<void> {
    await this.call<void>((done) => this.client.remove(path, version, (error) => done(error, undefined)));
  }

  async exists(path: string, watcher?: ZkWatcher): Promise<zookeeper.Stat | null> {
    return this.read<zookeeper.Stat | null>((done) =>
      watcher ? this.client.exists(path, watcher, (error, stat) => done(error, stat ?? null)) : this.client.exists(path, (error, stat) => done(error, stat ?? null)),
    );
  }

  async getData<T>(path: string, watcher?: ZkWatcher): Promise<{ data: T | undefined; version: number }> {
    const [buffer, stat] = await this.read<[Buffer | undefined, zookeeper.Stat]>((done) => {
      const callback = (error: unknown, data: Buffer, stat: zookeeper.Stat) => done(error, [data, stat]);
      if (watcher) this.client.getData(path, watcher, callback);
      else this.client.getData(path, callback);
    });
    return { data: decodeData<T>(buffer), version: stat.version };
  }

  async setData(path: string, data: unknown, version = -1): Promise<number> {
    const stat = await this.call<zookeeper.Stat>((done) => this.client.setData(path, encodeData(data), version, done));
    return stat.version;
  }

  /**
   * Writes `data` at `path` and returns the time the ensemble gave that transaction (the znode's
   * mtime: the leader's clock, in ms since the epoch), within `timeoutMs`.
   */
  async stampedSet(path: string, data: unknown, timeoutMs = this.operationTimeoutMs): Promise<number> {
    const stat = await this.call<zookeeper.Stat>((done) => this.client.setData(path, encodeData(data), -1, done), timeoutMs);
    return Number(stat.mtime.readBigInt64BE(0));
  }

  /**
   * One ZooKeeper transaction (multi): `dataPath` gets `data` only if `checkPath` is still at
   * `version`; nothing happens otherwise. A node moved on or gone (BAD_VERSION, NO_NODE on
   * either path) is a FencedError: whoever held that version has lost what it stood for. Other
   * failures (a timeout within `timeoutMs`, a lost session) are the usual coded errors.
   */
  async checkAndSet(checkPath: string, version: number, dataPath: string, data: unknown, timeoutMs = this.operationTimeoutMs): Promise<void> {
    try {
      await this.call<void>(
        (done) =>
          this.client
            .transaction()
            .check(checkPath, version)
            .setData(dataPath, encodeData(data), -1)
            .commit((error) => done(error, undefined)),
        timeoutMs,
      );
    } catch (error) {
      if (isZkError(error, ZkErrorCode.BAD_VERSION) || isZkError(error, ZkErrorCode.NO_NODE)) {
        throw new FencedError(`${checkPath} is no longer at version ${version}: ${dataPath} left unchanged`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * One ZooKeeper transaction (multi): `setPath` gets `setData` if it is still at `version`, and
   * `createPath` is created with `createData` in `mode`; both or neither. Resolves with the
   * version `setPath` has after it. The failing operation's coded error otherwise (BAD_VERSION:
   * `setPath` moved on; NODE_EXISTS: `createPath` is taken).
   */
  async setAndCreate(setPath: string, setData: unknown, version: number, createPath: string, createData: unknown, mode: number): Promise<number> {
    const results = await this.call<{ stat?: zookeeper.Stat }[]>((done) =>
      this.client
        .transaction()
        .setData(setPath, encodeData(setData), version)
        .create(createPath, encodeData(createData), this.aclFor(createPath), mode)
        .commit((error, results) => done(error, results as { stat?: zookeeper.Stat }[])),
    );
    const stat = results[0]?.stat;
    if (!stat) throw new ZooKeeperError(`the transaction on ${setPath} reported no version`, undefined);
    return stat.version;
  }

  /**
   * The node's data if it has the shape `schema` describes, else undefined (logged once per
   * version of the node); the version either way.
   */
  async readNode<T>(path: string, schema: z.ZodType<T>, watcher?: ZkWatcher): Promise<{ data: T | undefined; version: number }> {
    const { data, version } = await this.getData<unknown>(path, watcher);
    if (data === undefined) return { data: undefined, version };
    return { data: this.shapes.check(path, version, data, schema), version };
  }

  /** readNode, or undefined when there is no such node. */
  async readNodeIfExists<T>(path: string, schema: z.ZodType<T>, watcher?: ZkWatcher): Promise<{ data: T | undefined; version: number } | undefined> {
    try {
      return await this.readNode(path, schema, watcher);
    } catch (error) {
      if (isZkError(error, ZkErrorCode.NO_NODE)) return undefined;
      throw error;
    }
  }

  /** The node's data and version, or undefined when there is no such node. */
  async getDataIfExists<T>(path: string, watcher?: ZkWatcher): Promise<{ data: T | undefined; version: number } | undefined> {
    try {
      return await this.getData<T>(path, watcher);
    } catch (error) {
      if (isZkError(error, ZkErrorCode.NO_NODE)) return undefined;
      throw error;
    }
  }

  /** Removes the node; true if it was there (and at `version`, unless -1). */
  async removeIfExists(path: string, version = -1): Promise<boolean> {
    try {
      await this.remove(path, version);
      return true;
    } catch (error) {
      if (isZkError(error, ZkErrorCode.NO_NODE) || isZkError(error, ZkErrorCode.BAD_VERSION)) return false;
      throw error;
    }
  }

  /** The node's children, none when there is no such node. */
  async getChildrenIfExists(path: string, watcher?: ZkWatcher): Promise<string[]> {
    try {
      return await this.getChildren(path, watcher);
    } catch (error) {
      if (isZkError(error, ZkErrorCode.NO_NODE)) return [];
      throw error;
    }
  }

  async getChildren(path: string, watcher?: ZkWatcher): Promise<string[]> {
    return this.read<string[]>((done) => {
      const callback = (error: unknown, children: string[]) => done(error, children);
      if (watcher) this.client.getChildren(path, watcher, callback);
      else this.client.getChildren(path, callback);
    });
  }

  /** Sent once: a write lost with its connection may have been applied or not; only its caller may send it again (read-retry.ts). */
  private call<T>(start: (done: Callback<T>) => void, timeoutMs = this.operationTimeoutMs): Promise<T> {
    return withTimeout(this.attempt(start), timeoutMs, 'TIMEOUT', 'ZooKeeper operation timed out');
  }

  /** A pure read: sent again after a lost connection while its session lives, all within the one timeout (read-retry.ts). */
  private read<T>(start: (done: Callback<T>) => void): Promise<T> {
    let sentOn: SessionMark | undefined;
    let settled = false;
    const reading = retryingLostReads(() => this.attempt(start, (mark) => (sentOn = mark)), { linkBack: () => (sentOn ? this.linkBackOn(sentOn) : Promise.resolve(false)), settled: () => settled });
    return withTimeout(reading, this.operationTimeoutMs, 'TIMEOUT', 'ZooKeeper operation timed out').finally(() => {
      settled = true;
    });
  }

  /** LostReadRetry.linkBack for an attempt sent on session `mark` (read-retry.ts). */
  private linkBackOn(mark: SessionMark): Promise<boolean> {
    const alive = () => !this.closed && !this.sessionLost && this.session === mark.session;
    if (!this.linkDown || !alive()) return Promise.resolve(false);
    return Promise.race([this.linkDown.up.then(alive), mark.end.then(() => false)]);
  }

  /** Waits for the link to be up, then hands the operation to the library; `sent` is told on which session. */
  private attempt<T>(start: (done: Callback<T>) => void, sent?: (on: SessionMark) => void): Promise<T> {
    const send = () =>
      new Promise<T>((resolve, reject) => {
        if (this.pinnedSession !== undefined && (this.pinnedSession !== this.session || this.sessionLost)) {
          reject(new ZooKeeperError('the session this operation was pinned to is lost', ZkErrorCode.SESSION_EXPIRED));
          return;
        }
        sent?.({ session: this.session, end: this.sessionEnd.done });
        start((error, value) => {
          if (error) reject(asError(error));
          else {
            // An answer is as good a sign of life as a probe: a busy client's probe waits behind its requests.
            this.linkWatch?.heard();
            resolve(value);
          }
        });
      });
    const ready = this.linkDown && (this.pinnedSession === undefined ? this.linkDown.up : Promise.race([this.linkDown.up, this.sessionEnd.done]));
    return ready === undefined ? send() : ready.then(send);
  }
}

function newSignal(): { done: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const done = new Promise<void>((resolve) => (fire = resolve));
  return { done, fire };
}
