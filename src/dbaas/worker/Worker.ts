/**
 * One worker process of the database service; the same program serves as master or slave, so
 * any slave can be promoted. It owns its connections (RabbitMQ, ZooKeeper), its SQLite store and
 * its role, and is fail-stop: losing its ZooKeeper session or a sync confirm ends the process,
 * and the supervisor replaces it; so does a lost RabbitMQ connection, except for a serving slave,
 * which reconnects and reads the sync log on from its own offset (SlaveReconnection.ts), within
 * a bound. A slave that serves through another node than its own host's moves back to its own
 * once it answers (HomeNodeProbe.ts), the same way. Stopping is graceful (reads in flight answered).
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { ChannelModel } from 'amqplib';
import type { Logger } from '../../shared/logger.ts';
import { ensureCommitRecord, writeCommitRecord } from '../coordination/commit-record.ts';
import { acquireMasterLease, type MasterLease } from '../coordination/master-lease.ts';
import { readPromotion } from '../coordination/promotion.ts';
import { WorkerRegistration } from '../coordination/worker-registry.ts';
import { ZkClient } from '../coordination/ZkClient.ts';
import { ClusterClock } from '../coordination/ClusterClock.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import { clusterNames, clusterPaths, type ClusterNames } from '../protocol/names.ts';
import { connectAmqp, nodeOf } from '../transport/amqp.ts';
import { assertSyncLog, assertTopology } from '../transport/topology.ts';
import { RefusedMessages } from '../transport/RefusedMessages.ts';
import { fenceOlderEpochs, openEpoch, openEpochExchange } from '../replication/epoch-fence.ts';
import { askMasterPosition } from '../replication/master-position.ts';
import { MessageSigner } from '../transport/signing.ts';
import { appliedSeqWaiter, fetchSnapshot } from '../replication/snapshot-transfer.ts';
import { SyncFollower } from '../replication/SyncFollower.ts';
import { SyncPublisher } from '../replication/SyncPublisher.ts';
import { MasterRole } from './MasterRole.ts';
import { recoverPreviousRun } from './recovery.ts';
import { HomeNodeProbe } from './HomeNodeProbe.ts';
import { SlaveReconnection } from './SlaveReconnection.ts';
import { SlaveRole } from './SlaveRole.ts';
import { Store } from './Store.ts';
import type { WorkerSettings } from './WorkerSettings.ts';
import { RideShareError } from '../../shared/errors.ts';
import { amqpUrlList } from '../../shared/amqp-urls.ts';
import { sleep } from '../../shared/timeout.ts';

export type WorkerState = 'initial' | 'joining' | 'serving' | 'reconnecting' | 'promoting' | 'master' | 'stopping' | 'stopped';

const POSITION_PUBLISH_MS = 500;
/** A promotion's drain: the backlog of a lagging slave plus the round trip of our own mark. */
const DRAIN_TIMEOUT_MS = 15_000;
/**
 * A resuming slave asks the master's position for this long at most: with no master (it lost the
 * same broker) the failover waits for a ready slave, and a promotion drains the log itself.
 */
const RESUME_POSITION_ASK_MS = 3000;
/** A slave moving to its own node answers the reads in flight on the node it leaves for this long at most. */
const MOVE_DRAIN_MS = 1000;
/** The least time a commit record may take before the master gives up and stops. */
const COMMIT_BOUND_FLOOR_MS = 5000;

/**
 * How long one commit record may take: at least the ZooKeeper session timeout, so that an outage
 * the session survives (the client reconnects within it) delays answers and loses nothing; past
 * that the session is gone anyway and the master must stop. The floor keeps a slow but live
 * ZooKeeper on a loaded machine (the tests' 1 s sessions) from stopping masters for nothing.
 */
export function commitBoundMs(sessionTimeoutMs: number): number {
  return Math.max(COMMIT_BOUND_FLOOR_MS, sessionTimeoutMs);
}

export interface WorkerEvents {
  fatal: [reason: string];
}

export class Worker extends EventEmitter<WorkerEvents> {
  private state: WorkerState = 'initial';
  private readonly names: ClusterNames;
  private readonly signer: MessageSigner;
  private refused: RefusedMessages | undefined;
  private zk!: ZkClient;
  /** Where the deadlines of commands are read (coordination/ClusterClock.ts). */
  private readonly clock: ClusterClock;
  private connection!: ChannelModel;
  private store!: Store;
  private registration!: WorkerRegistration;
  private master: MasterRole | undefined;
  /** The broker blocks this connection's publishes (a resource alarm) until it says otherwise. */
  private brokerBlocked = false;
  private zkDisconnected = false;
  private slave: SlaveRole | undefined;
  private follower: SyncFollower | undefined;
  /** A serving slave that lost its RabbitMQ connection, on its way back. */
  private reconnection: SlaveReconnection | undefined;
  /** A serving slave connected through another node than its own host's, asking its own until it answers. */
  private homeProbe: HomeNodeProbe | undefined;
  private positionTimer: NodeJS.Timeout | undefined;
  private promotionWatchArmed = false;
  private stopped: Promise<void> | undefined;
  /** When each step of the start ended, in ms since the process started (logged once serving). */
  private readonly startup: Record<string, number> = {};
  /** When each step of a promotion ended, wall-clock ms (logged once it serves as master). */
  private readonly promotion: Record<string, number> = {};

  constructor(
    private readonly settings: WorkerSettings,
    private readonly logger: Logger,
    private readonly pid = process.pid,
  ) {
    super();
    this.names = clusterNames(settings.cluster);
    this.clock = new ClusterClock(clusterPaths(settings.cluster).clock, logger);
    // A joining replica until it serves: each role signs as itself (src/dbaas/transport/signing.ts).
    this.signer = new MessageSigner(settings.clusterKey, { role: 'replica', id: settings.workerId }, this.clock);
  }

  async start(): Promise<void> {
    if (this.state !== 'initial') throw new RideShareError('INVALID_STATE', `cannot start a worker in state ${this.state}`);
    this.state = 'joining';
    this.startupStep('loaded');
    await this.connect();
    this.startupStep('connected');
    if (this.settings.role === 'master') await this.startAsMaster();
    else await this.startAsSlave();
    this.positionTimer = setInterval(() => void this.publishPosition(), POSITION_PUBLISH_MS);
  }

  /**
   * Graceful stop: no new reads or writes, reads in flight answered, then everything closed.
   * Idempotent: a second call waits for the first.
   */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopping';
    clearInterval(this.positionTimer);
    this.reconnection?.abandon();
    this.homeProbe?.stop();
    await this.master?.stopTakingWrites();
    await this.slave?.stopServing();
    await this.connection?.close().catch(() => undefined);
    this.clock.stop();
    this.zk?.close();
    this.store?.close();
    this.state = 'stopped';
  }

  /**
   * Slave → master. Take a new epoch (the bump fences the older epochs' commit records), then
   * apply everything in the sync log before our own epoch mark: the mark coming back says the
   * drain is complete, and we hold every acknowledged write, since each was in the log
   * (confirmed) before it was answered. The older epochs are fenced at the broker meanwhile
   * (their publishes can no longer be routed). Only then does the store take the new epoch, and
   * only then writes. What needs no lease (the reads' end, the log's declaration, the mark's
   * channel) runs beside the lease, and the broker's fence beside the drain: each round trip
   * there is time with no master.
   */
  async promote(): Promise<void> {
    const follower = this.follower;
    const slave = this.slave;
    if (this.state !== 'serving' || !slave || !follower) throw new RideShareError('INVALID_STATE', `cannot promote a worker in state ${this.state}`);
    this.state = 'promoting';
    this.promotionStep('requested');
    // A master stays on the node it has: it stops when it loses it, and the queues' leaders follow it.
    this.homeProbe?.stop();
    this.slave = undefined;
    // Reads in flight are answered from the store meanwhile; only the first write waits for them.
    const stoppedServing = slave.stopServing().then(() => this.promotionStep('stoppedServing'));
    stoppedServing.catch(() => undefined);
    const [lease, markChannel] = await Promise.all([this.takeMasterLease(), this.connection.createConfirmChannel(), assertSyncLog(this.connection, this.names)]);
    this.promotionStep('leased');
    const epoch = lease.record.epoch;
    await openEpochExchange(this.connection, this.names, epoch);
    const publisher = new SyncPublisher(markChannel, this.names, epoch, this.settings.workerId, this.signer.as('master'));
    await Promise.all([
      fenceOlderEpochs(this.connection, this.names, epoch, Math.min(this.store.epoch, follower.epoch)).then(() => this.promotionStep('fenced')),
      follower.drainThrough(epoch, () => publisher.mark(), DRAIN_TIMEOUT_MS).then(() => this.promotionStep('drained')),
    ]);
    await markChannel.close().catch(() => undefined);
    this.follower = undefined;
    await stoppedServing;
    await this.becomeMaster(lease, { syncLogDeclared: true });
  }

  /** A promotion's steps as wall-clock times (ms since the epoch), to line up with other processes' logs. */
  private promotionStep(step: string): void {
    this.promotion[step] = Date.now();
  }

  private startupStep(step: string): void {
    // performance.now() counts from the start of the process: module loading is included.
    if (this.startup[step] === undefined) this.startup[step] = Math.round(performance.now());
  }

  /** ZooKeeper and RabbitMQ at the same time: neither needs the other. */
  private async connect(): Promise<void> {
    this.zk = new ZkClient({ connect: this.settings.zkConnect, sessionTimeoutMs: this.settings.zkSessionTimeoutMs, credentials: this.settings.zkAuth, logger: this.logger });
    this.zk.on('expired', () => this.fatal('ZooKeeper session expired'));
    this.zk.on('disconnected', () => {
      // Until the session is known to survive, a master must not take writes.
      this.zkDisconnected = true;
      if (this.master) void this.master.stopTakingWrites();
    });
    this.zk.on('connected', () => {
      this.zkDisconnected = false;
      this.resumeWrites();
    });
    await Promise.all([this.zk.connect().then(() => this.clock.start(this.zk)), this.connectBroker()]);
  }

  /**
   * A connection to RabbitMQ (any node of AMQP_URL, or the one `opened` already) with this
   * worker's handlers, topology and refused-copies channel.
   */
  private async connectBroker(opened?: ChannelModel): Promise<ChannelModel> {
    const connection = opened ?? (await connectAmqp(this.settings.amqpUrl));
    this.connection = connection;
    this.brokerBlocked = false;
    connection.on('close', () => this.onBrokerLost(connection));
    connection.on('error', (error: unknown) => this.logger.error({ err: error }, 'RabbitMQ connection error'));
    // A broker memory or disk alarm: publishes stall until it ends (src/dbaas/worker/MasterRole.ts).
    connection.on('blocked', (reason: unknown) => {
      this.logger.warn({ reason }, 'the broker blocks publishing (a resource alarm)');
      this.brokerBlocked = true;
      this.master?.setBlocked(true);
    });
    connection.on('unblocked', () => {
      this.logger.info('the broker publishes again');
      this.brokerBlocked = false;
      this.master?.setBlocked(false);
      this.resumeWrites();
    });
    const topology = await assertTopology(connection, this.names);
    if (topology.declaredOtherwise.length > 0) this.logger.warn({ queues: topology.declaredOtherwise }, 'queues of an older declaration, used as they are until the supervisor converts them');
    const channel = await connection.createChannel();
    // Kept open: it carries the copies of refused messages (src/dbaas/transport/RefusedMessages.ts).
    if (this.refused) this.refused.useChannel(channel);
    else this.refused = new RefusedMessages(channel, this.names.refusedQ, this.settings.workerId, this.logger);
    return connection;
  }

  /**
   * The RabbitMQ connection closed. A master stops: writeQ's single active consumer must move to
   * its successor. A serving slave that knows its offset in the sync log reconnects and reads on
   * from there; any other worker stops too (a joining one copies again as a new worker).
   */
  private onBrokerLost(connection: ChannelModel): void {
    // A connection given up already (an attempt of a reconnection), or one the reconnection watches itself.
    if (connection !== this.connection || this.state === 'reconnecting') return;
    const follower = this.follower;
    if (this.state !== 'serving' || !this.slave || follower?.resumeOffset === undefined) {
      this.fatal('RabbitMQ connection closed');
      return;
    }
    void this.reconnectSlave(this.slave, follower);
  }

  /**
   * A serving slave whose connection is not to its own host's node (the first of AMQP_URL) asks
   * that node on an interval, and moves there once it answers (HomeNodeProbe.ts).
   */
  private watchHomeNode(): void {
    this.homeProbe?.stop();
    this.homeProbe = undefined;
    const home = amqpUrlList(this.settings.amqpUrl)[0];
    const current = nodeOf(this.connection);
    if (home === undefined || current === undefined || current === home) return;
    const probe = new HomeNodeProbe(
      home,
      () => this.homeProbe === probe && this.canMoveHome(),
      (connection) => this.moveHome(connection),
      this.logger,
    );
    this.homeProbe = probe;
    probe.start();
  }

  /** A serving slave that knows where to read the sync log on from: one that could resume. */
  private canMoveHome(): boolean {
    return this.state === 'serving' && this.slave !== undefined && this.follower?.resumeOffset !== undefined;
  }

  /** Its own node answered: the slave resumes there, as after a lost connection, and leaves the other (false: not now). */
  private moveHome(home: ChannelModel): boolean {
    const { slave, follower } = this;
    if (!this.canMoveHome() || !slave || !follower) return false;
    void this.reconnectSlave(slave, follower, home);
    return true;
  }

  /**
   * Not ready, then readQ's consumer gone, the sync log read on from the follower's offset on a new
   * connection, caught up, reads served again, ready (SlaveReconnection.ts). After a lost
   * connection any node of AMQP_URL will do; a move home (`home`: the connection its own node
   * gave the probe) goes there first, and closes the connection it leaves.
   */
  private async reconnectSlave(lost: SlaveRole, follower: SyncFollower, home?: ChannelModel): Promise<void> {
    this.state = 'reconnecting';
    this.slave = undefined;
    this.homeProbe?.stop();
    this.homeProbe = undefined;
    const left = this.connection;
    if (home) this.logger.info({ seq: this.store.appliedSeq, resumeOffset: follower.resumeOffset }, 'this host’s RabbitMQ node answers again; moving back to resume the sync log there');
    else this.logger.warn({ seq: this.store.appliedSeq, resumeOffset: follower.resumeOffset }, 'RabbitMQ connection lost; reconnecting to resume the sync log');
    // After a loss readQ's consumer went with the connection, and reads waiting for a seq end at
    // their own wait; on a move it is cancelled, and the reads in flight are answered first.
    const stoppedServing = lost.stopServing().catch(() => undefined);
    let moveTo = home;
    const reconnection = new SlaveReconnection(
      {
        markNotReady: () => this.registration.update({ ready: false }),
        connect: async () => {
          const opened = moveTo;
          moveTo = undefined;
          if (!opened) return this.connectBroker();
          // The reads in flight are answered on the connection left, for a moment at most: its
          // node may be going away too (its host lost), and then neither they nor its close end
          // before a heartbeat says so. What it delivers once the follower reads on the new one
          // is ignored (SyncFollower.ts).
          await Promise.race([stoppedServing, sleep(MOVE_DRAIN_MS)]);
          void left.close().catch(() => undefined);
          return this.connectBroker(opened).catch(async (error: unknown) => {
            await opened.close().catch(() => undefined);
            throw error;
          });
        },
        resumeOn: async (connection) => {
          // What an attempt given up had started serving on its connection ends.
          void this.slave?.stopServing().catch(() => undefined);
          this.slave = undefined;
          await follower.resume(await connection.createChannel());
          await this.catchUp(follower, Math.min(RESUME_POSITION_ASK_MS, this.settings.snapshotTimeoutMs));
          this.slave = await this.serveReads(follower);
        },
        markReady: () => this.registration.update({ ready: true, appliedSeq: this.store.appliedSeq, epoch: this.store.epoch }),
      },
      this.logger,
    );
    this.reconnection = reconnection;
    try {
      await reconnection.run();
    } catch (error) {
      this.fatal(`RabbitMQ connection closed, and no way back: ${String(error)}`);
      return;
    } finally {
      this.reconnection = undefined;
      // Given up before its first attempt (the worker stopping): the own node's connection too.
      void moveTo?.close().catch(() => undefined);
    }
    if (this.state !== 'reconnecting') return;
    this.state = 'serving';
    // A promotion asked while it was away was not taken up: the node is read again.
    void this.watchPromotion();
    this.watchHomeNode();
  }

  /** A master paused by a ZooKeeper disconnection or a broker alarm takes writes again once neither holds. */
  private resumeWrites(): void {
    if (!this.master || this.state !== 'master' || this.zkDisconnected || this.brokerBlocked) return;
    void this.master.takeWrites().catch((error: unknown) => this.fatal(`cannot resume writes: ${String(error)}`));
  }

  private async startAsMaster(): Promise<void> {
    if (this.settings.recoverDir) {
      const used = await recoverPreviousRun(this.settings.recoverDir, this.settings.dbFile);
      if (used) this.logger.info({ from: path.basename(used) }, 'recovered the data of the previous run');
    }
    this.store = new Store(this.settings.dbFile);
    this.registration = await this.register('master', false);
    const lease = await this.takeMasterLease();
    await openEpoch(this.connection, this.names, lease.record.epoch, this.store.epoch);
    await this.becomeMaster(lease);
  }

  /** The commit record's node is needed by the first record only, after the lease: both at once. */
  private async takeMasterLease(): Promise<MasterLease> {
    const [, lease] = await Promise.all([
      ensureCommitRecord(this.zk, this.settings.cluster),
      acquireMasterLease(this.zk, this.settings.cluster, {
        workerId: this.settings.workerId,
        pid: this.pid,
        localEpoch: this.store.epoch,
      }),
    ]);
    return lease;
  }

  /** The older epochs are fenced and this replica holds every acknowledged write: take writes. */
  private async becomeMaster({ record: lease, epochVersion }: MasterLease, { syncLogDeclared = false } = {}): Promise<void> {
    this.store.setDurability(this.settings.durability);
    this.store.setEpoch(lease.epoch);
    const commitBound = commitBoundMs(this.settings.zkSessionTimeoutMs);
    // The supervisor declared the log; a log deleted since (an operator, a stranger with the
    // broker's credentials) would refuse every group, so a new master declares it again (a
    // promotion did, beside its lease). It runs on the supervisor's host, whose node the log's
    // leader belongs on.
    if (!syncLogDeclared) await assertSyncLog(this.connection, this.names);
    this.master = new MasterRole({
      connection: this.connection,
      names: this.names,
      store: this.store,
      epoch: lease.epoch,
      workerId: this.settings.workerId,
      signer: this.signer.as('master'),
      refused: this.refused,
      logger: this.logger,
      recordCommit: (seq) => writeCommitRecord(this.zk, this.settings.cluster, epochVersion, { epoch: lease.epoch, seq }, commitBound),
      onFatal: (reason) => this.fatal(reason),
    });
    await this.master.start();
    if (this.brokerBlocked) this.master.setBlocked(true);
    this.state = 'master';
    if (this.promotion.requested !== undefined) this.promotionStep('takingWrites');
    await this.registration.update({ role: 'master', ready: true, epoch: lease.epoch, appliedSeq: this.store.appliedSeq });
    this.startupStep('serving');
    if (this.promotion.requested !== undefined) this.promotionStep('registered');
    const promotion = this.promotion.requested === undefined ? {} : { promotionAt: this.promotion };
    this.logger.info({ epoch: lease.epoch, seq: this.store.appliedSeq, startupMs: this.startup, ...promotion }, 'serving as master');
  }

  /** Attach to the sync log, copy a snapshot, apply what arrived meanwhile, then serve reads. */
  private async startAsSlave(): Promise<void> {
    const syncChannel = await this.connection.createChannel();
    const follower = new SyncFollower(syncChannel, this.names.syncLog, this.signer, this.logger, this.refused);
    follower.on('broken', (reason) => this.fatal(`${reason}; a fresh replica must re-copy`));
    await follower.attach();
    // Everything published before the attach must be in the copy; what follows reaches us.
    const { seq: minSeq } = await askMasterPosition(this.connection, this.names, this.signer, this.settings.snapshotTimeoutMs, this.logger);
    const snapshot = await fetchSnapshot({
      connection: this.connection,
      names: this.names,
      signer: this.signer,
      minSeq,
      file: this.settings.dbFile,
      timeoutMs: this.settings.snapshotTimeoutMs,
      logger: this.logger,
    });
    this.store = Store.fromSnapshot(this.settings.dbFile, snapshot);
    this.startupStep('copied');
    this.registration = await this.register('slave', false);
    follower.start(this.store);
    this.follower = follower;
    await this.catchUp(follower);
    this.slave = await this.serveReads(follower);
    this.state = 'serving';
    await this.registration.update({ ready: true, appliedSeq: this.store.appliedSeq, epoch: this.store.epoch });
    this.startupStep('serving');
    this.logger.info({ seq: this.store.appliedSeq, snapshotSeq: snapshot.appliedSeq, startupMs: this.startup }, 'caught up; serving reads');
    void this.watchPromotion();
    this.watchHomeNode();
  }

  /** readQ consumed (and snapshot requests served) on channels of the current connection. */
  private async serveReads(follower: SyncFollower): Promise<SlaveRole> {
    const slave = new SlaveRole({
      readChannel: await this.connection.createChannel(),
      snapshotChannel: await this.connection.createChannel(),
      names: this.names,
      store: this.store,
      follower,
      workerId: this.settings.workerId,
      readWaitMs: this.settings.readWaitMs,
      signer: this.signer.as('slave'),
      refused: this.refused,
      logger: this.logger,
    });
    await slave.startServing();
    return slave;
  }

  /**
   * Serving begins caught up with the master as it is now, not as it was when the copy began.
   * Only freshness depends on it (a read with minSeq waits for its seq anyway), so a master that
   * does not answer, or a log that is slow, delays serving by the snapshot timeout at most.
   */
  private async catchUp(follower: SyncFollower, timeoutMs = this.settings.snapshotTimeoutMs): Promise<void> {
    try {
      const { seq } = await askMasterPosition(this.connection, this.names, this.signer, timeoutMs, this.logger);
      if (!(await appliedSeqWaiter(follower, () => this.store.appliedSeq)(seq, timeoutMs))) {
        this.logger.warn({ masterSeq: seq, applied: this.store.appliedSeq, timeoutMs }, 'serving before the sync log brought this replica to the master\u2019s position');
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'serving without knowing the master\u2019s position');
    }
  }

  /** A ready slave watches the promotion node; when it names this worker, it becomes master. */
  private async watchPromotion(): Promise<void> {
    if (this.state !== 'serving' || this.promotionWatchArmed) return;
    try {
      this.promotionWatchArmed = true;
      const data = await readPromotion(this.zk, this.settings.cluster, () => {
        this.promotionWatchArmed = false;
        void this.watchPromotion();
      });
      if (data?.workerId !== this.settings.workerId || this.state !== 'serving') return;
      this.logger.info({ request: data }, 'promotion requested');
      await this.promote();
    } catch (error) {
      this.fatal(`promotion failed: ${String(error)}`);
    }
  }

  private register(role: 'master' | 'slave', ready: boolean): Promise<WorkerRegistration> {
    return WorkerRegistration.register(this.zk, this.settings.cluster, {
      workerId: this.settings.workerId,
      pid: this.pid,
      role,
      ready,
      appliedSeq: this.store.appliedSeq,
      epoch: this.store.epoch,
      startedAt: Math.round(performance.timeOrigin),
      protocol: PROTOCOL_VERSION,
    });
  }

  private async publishPosition(): Promise<void> {
    if (this.state !== 'serving' && this.state !== 'master') return;
    await this.registration.update({ appliedSeq: this.store.appliedSeq, epoch: this.store.epoch }).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'could not publish the applied seq');
    });
  }

  private fatal(reason: string): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.logger.fatal({ reason }, 'worker must stop');
    this.emit('fatal', reason);
  }
}
