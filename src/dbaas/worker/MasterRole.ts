/**
 * The master: the single consumer of writeQ. The writes that arrived together are applied locally
 * in one transaction (each with its own seq, in a savepoint of its own, so one that fails fails
 * alone), published to this epoch's sync exchange as one message, and answered and acked only
 * once the broker confirmed it and every write before it, and a commit record covering them was
 * written in ZooKeeper under this master's epoch (CommitRecorder.ts). Nothing of a group is
 * answered before that, refusals included: a 409 may rest on an earlier write that is not yet
 * sure to survive. A commit record refused (a successor bumped the epoch) or too slow stops the
 * master at once: it answers nothing more.
 * When SQLite ends a group's transaction (disk full, I/O error) or its commit fails, none of the
 * group is applied or answered and the master stops, so its messages go to the next master.
 * A retried write (same request id) gets its first answer back; a write whose deadline has
 * passed is never applied (its caller has already been told 503).
 */
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { RideShareError, TimeoutError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import type { SingleCommand } from '../protocol/messages.ts';
import type { Reply } from '../protocol/reply.ts';
import type { Position } from '../protocol/results.ts';
import { MAX_GROUP, type SyncWrite } from '../protocol/sync.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { serveSnapshots, SNAPSHOT_PRIORITY } from '../replication/snapshot-transfer.ts';
import { SyncPublisher } from '../replication/SyncPublisher.ts';
import { failure, ok } from '../transport/replies.ts';
import { commandInbox, type Commands } from '../transport/command-inbox.ts';
import { CommitRecorder } from './CommitRecorder.ts';
import type { Inbox } from '../transport/Inbox.ts';
import { RequestReply } from '../transport/RequestReply.ts';
import type { MessageSigner } from '../transport/signing.ts';
import type { Store } from './Store.ts';
import { logRefusals, type Refusals } from '../transport/RefusedMessages.ts';

/** Messages in flight between delivery and confirm; confirms are pipelined, applying stays serial. */
const WRITE_PREFETCH = 256;
/** How long the broker may take to confirm a group's sync message before the master fails. */
const PUBLISH_CONFIRM_TIMEOUT_MS = 10_000;
/** How long a new master keeps trying to subscribe to writeQ (while a classic writeQ of an older declaration still has the dead master's exclusive consumer, say). */
const TAKE_WRITES_TIMEOUT_MS = 15_000;

export interface MasterRoleOptions {
  connection: ChannelModel;
  names: ClusterNames;
  store: Store;
  epoch: number;
  workerId: string;
  /** Checks commands and signs, as the master, what it publishes and answers (src/dbaas/transport/signing.ts). */
  signer: MessageSigner;
  /** Where commands refused unexecuted are kept (none: only logged). */
  refused?: Refusals;
  logger: Logger;
  /**
   * Writes the commit record for every write up to `seq` under this master's epoch, checked
   * against /epoch (src/dbaas/coordination/commit-record.ts); rejects when fenced or too slow.
   */
  recordCommit(seq: number): Promise<void>;
  /** Called when the master must stop (fail-stop): an unconfirmed write, a lost channel, a refused commit record. */
  onFatal(reason: string): void;
}

/** A write taken from writeQ, waiting for the next group commit. */
interface QueuedWrite {
  command: Extract<SingleCommand, { kind: 'write' }>;
  answer: RequestReply;
  index: number;
  message: ConsumeMessage;
}

export class MasterRole {
  private writeChannel: ConfirmChannel | undefined;
  private publisher: SyncPublisher | undefined;
  private writeConsumer: string | undefined;
  private stopped = false;
  /** A commit record failed: this master may never take or answer a write again. */
  private halted = false;
  private commits: CommitRecorder | undefined;
  private positionAnnounced = false;
  /** Every write up to this seq is confirmed by the broker; confirms may arrive out of order. */
  private confirmedSeq = 0;
  private readonly confirmedAhead = new Set<number>();
  private confirmWaiters: { seq: number; resolve(reached: boolean): void }[] = [];
  private queued: QueuedWrite[] = [];
  private groupScheduled = false;
  /** The broker blocks this connection's publishes (a memory or disk alarm): confirms wait for it. */
  private blocked = false;

  private readonly refused: Refusals;
  /** writeQ's door (src/dbaas/transport/Inbox.ts): what comes out is signed and decoded. */
  private readonly writes: Inbox<Commands>;

  constructor(private readonly options: MasterRoleOptions) {
    this.refused = options.refused ?? logRefusals(options.logger);
    this.writes = commandInbox({ from: 'writeQ', signer: options.signer, refused: this.refused, channel: () => this.writeChannel });
  }

  async start(): Promise<void> {
    const { connection, names, store } = this.options;
    // Everything this replica holds came through the broker already: confirmed. Set before the
    // first delivery, so a retry of such a write is answered at once, not after a wait on nothing.
    this.confirmedSeq = store.appliedSeq;
    // The epoch's first record, before any write: it says where this master starts, and a lease
    // already overtaken by a successor fails here instead of at the first write. The write
    // channel opens meanwhile (its position mark carries no write): neither waits for the other.
    await Promise.all([this.options.recordCommit(store.appliedSeq), this.openWriteChannel()]);
    this.commits = new CommitRecorder({
      recordedSeq: store.appliedSeq,
      record: (seq) => this.options.recordCommit(seq),
      onFailure: (error) => this.halt(error),
    });
    await this.takeWrites();
    const snapshotChannel: Channel = await connection.createChannel();
    await serveSnapshots({
      channel: snapshotChannel,
      names,
      store: () => store,
      priority: SNAPSHOT_PRIORITY.master,
      signer: this.options.signer,
      refused: this.refused,
      // A copy may only hold writes every replica is sure to receive: none the broker may still refuse.
      confirmedThrough: (seq, timeoutMs) => this.confirmedThrough(seq, timeoutMs),
      logger: this.options.logger,
    });
  }

  /**
   * (Re)starts consuming writeQ. writeQ has a single active consumer (src/dbaas/transport/topology.ts):
   * while the old master's channel lingers, this consumer is accepted and waits, and becomes the
   * active one the moment that channel closes, its unacked messages first. A failed subscription
   * (an exclusive consume refused on a classic writeQ an older version declared) closes the
   * channel, so it is retried on a fresh one.
   */
  async takeWrites(): Promise<void> {
    if (this.writeConsumer || this.halted) return;
    this.stopped = false;
    const deadline = performance.now() + TAKE_WRITES_TIMEOUT_MS;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const channel = this.writeChannel ?? (await this.openWriteChannel());
        // `exclusive` keeps masters apart on a writeQ of an older declaration (classic), where the
        // broker refuses a second consumer; a quorum writeQ ignores it and has one active consumer.
        const { consumerTag } = await channel.consume(this.options.names.writeQ, (message) => this.onWriteDelivery(message), { noAck: false, exclusive: true });
        this.writeConsumer = consumerTag;
        return;
      } catch (error) {
        this.writeChannel = undefined;
        if (performance.now() > deadline) throw error;
        if (attempt === 1) this.options.logger.info({ err: error }, 'could not subscribe to writeQ; retrying');
        await sleep(50);
      }
    }
  }

  /**
   * A commit record was refused or timed out: from now on nothing is taken or answered (the
   * groups waiting for a record wait for ever), and the worker exits, so writeQ's single active
   * consumer moves on to the next master, with every unanswered write still unacked.
   */
  private halt(error: unknown): void {
    this.halted = true;
    void this.stopTakingWrites();
    this.requeueQueued(this.writeChannel);
    const fenced = error instanceof RideShareError && error.code === 'FENCED';
    this.options.logger.error(
      { err: error, recordedSeq: this.commits?.recorded },
      fenced ? 'fenced: a successor took a new epoch; this master stops' : 'no commit record within its bound; this master stops',
    );
    this.options.onFatal(`commit record failed: ${String(error)}`);
  }

  /** Stops taking writes at once (e.g. the ZooKeeper session is in doubt). */
  async stopTakingWrites(): Promise<void> {
    this.stopped = true;
    const tag = this.writeConsumer;
    this.writeConsumer = undefined;
    if (tag) await this.writeChannel?.cancel(tag).catch(() => undefined);
  }

  private async openWriteChannel(): Promise<ConfirmChannel> {
    const channel = await this.options.connection.createConfirmChannel();
    channel.on('error', () => undefined); // the 'close' that follows is what matters
    channel.on('close', () => {
      if (this.writeChannel !== channel) return;
      // A failed subscription also closes the channel; only losing a working one is fatal.
      const wasConsuming = this.writeConsumer !== undefined;
      this.writeChannel = undefined;
      this.writeConsumer = undefined;
      if (wasConsuming && !this.stopped) this.options.onFatal('the writeQ channel closed');
    });
    await channel.prefetch(WRITE_PREFETCH);
    this.writeChannel = channel;
    this.publisher = new SyncPublisher(channel, this.options.names, this.options.epoch, this.options.workerId, this.options.signer);
    if (!this.positionAnnounced) {
      // Before the first write of the epoch: every follower must be exactly where this master is.
      await this.publisher.mark(this.options.store.appliedSeq);
      this.positionAnnounced = true;
    }
    return channel;
  }

  /**
   * `null` is the broker cancelling the consumer (writeQ deleted, e.g. by a conversion run by
   * hand while this master lived): a master that silently stopped taking writes would hold the
   * lease and serve nothing, so it stops and the next master subscribes afresh.
   */
  private onWriteDelivery(message: ConsumeMessage | null): void {
    if (message) {
      this.onWrite(message);
      return;
    }
    if (this.stopped || this.writeConsumer === undefined) return;
    this.stopped = true;
    this.options.onFatal('the broker cancelled the writeQ consumer');
  }

  private onWrite(message: ConsumeMessage): void {
    const channel = this.writeChannel;
    if (!channel || !this.publisher) return;
    if (this.stopped) {
      // Delivered before the cancel took effect: back to the queue for whoever takes writes next.
      channel.nack(message, false, true);
      return;
    }
    const decoded = this.writes.take(message)?.value;
    if (!decoded) return;
    const answer = new RequestReply(channel, this.options.signer, message, decoded.batched, decoded.commands.length);
    decoded.commands.forEach((command, index) => {
      if (command instanceof Error) {
        this.options.logger.warn({ err: command }, 'refusing a malformed command on writeQ');
        answer.set(index, failure(command));
      } else if (command.kind === 'read') {
        answer.set(index, failure(new RideShareError('BAD_REQUEST', 'writeQ carries writes only')));
      } else if (command.kind === 'position') {
        const position: Position = { seq: this.options.store.appliedSeq, epoch: this.options.epoch };
        answer.set(index, ok(position));
      } else {
        this.queued.push({ command, answer, index, message });
      }
    });
    this.scheduleGroup();
  }

  /**
   * Group commit: the writes that arrived while the event loop was busy are applied together once
   * it turns (a lone write waits for nobody), in one transaction, one sync message, one confirm.
   */
  private scheduleGroup(): void {
    if (this.groupScheduled || this.queued.length === 0) return;
    this.groupScheduled = true;
    setImmediate(() => {
      this.groupScheduled = false;
      this.applyGroup();
      this.scheduleGroup();
    });
  }

  private applyGroup(): void {
    const channel = this.writeChannel;
    const publisher = this.publisher;
    const commits = this.commits;
    if (!channel || !publisher || !commits || this.stopped) {
      this.requeueQueued(channel);
      return;
    }
    const group = this.queued.splice(0, MAX_GROUP);
    const answers: { write: QueuedWrite; answer: Reply<unknown>; sync?: SyncWrite }[] = [];
    const syncs: SyncWrite[] = [];
    try {
      this.options.store.inTransaction(() => {
        for (const write of group) {
          const outcome = this.applyOne(write);
          if (outcome.sync) syncs.push(outcome.sync);
          answers.push({ write, ...outcome });
        }
      });
    } catch (error) {
      // SQLite ended the group's transaction, or its commit failed: none of the group is stored.
      // Nothing of it was answered; its messages stay unacked and go to the next master. A master
      // that cannot commit must not go on (its next write could land where no replica follows).
      this.stopped = true;
      this.options.logger.error({ err: error, writes: group.length }, 'a group commit failed; this master stops');
      // biome-ignore lint/nursery/noBaseToString: a caught value is unknown; String() is the deliberate text for a non-Error throw
      this.options.onFatal(`a group commit failed: ${String(error)}`);
      return;
    }
    // Answered only once every write up to here is confirmed and recorded, those of earlier groups
    // included: a 409 or a retry's first answer may rest on a write that is not yet sure to survive.
    const through = this.options.store.appliedSeq;
    const published = syncs.length === 0 ? Promise.resolve() : this.publishConfirmed(publisher, syncs);
    published.then(
      async () => {
        for (const sync of syncs) this.noteConfirmed(sync.seq);
        if (through > this.confirmedSeq) await this.confirmedThrough(through);
        await commits.through(through);
        if (this.halted) return;
        for (const { write, answer, sync } of answers) {
          if (sync) this.options.logger.info({ seq: sync.seq, requestId: write.command.requestId, trace: write.command.trace }, 'write applied');
          write.answer.set(write.index, answer);
        }
      },
      (error: unknown) => {
        this.stopped = true;
        this.options.onFatal(`writes seq ${syncs[0]?.seq}..${syncs.at(-1)?.seq} not confirmed: ${String(error)}`);
      },
    );
  }

  /**
   * The group's sync message, confirmed by the broker within PUBLISH_CONFIRM_TIMEOUT_MS. A
   * confirm that never comes (a link that silently died) fails the master rather than leaving
   * its writes unanswered forever; while the broker blocks publishers, the wait goes on.
   */
  private publishConfirmed(publisher: SyncPublisher, syncs: SyncWrite[]): Promise<void> {
    const what = `the broker did not confirm seqs ${syncs[0]?.seq}..${syncs.at(-1)?.seq} within ${PUBLISH_CONFIRM_TIMEOUT_MS} ms`;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        timer = setTimeout(() => {
          // A broker alarm blocks every publisher alike: a successor could not do better, so wait it out.
          if (this.blocked) arm();
          else reject(new TimeoutError(what));
        }, PUBLISH_CONFIRM_TIMEOUT_MS);
      };
      arm();
      publisher.publish(syncs).then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new RideShareError('INTERNAL', String(error)));
        },
      );
    });
  }

  /**
   * The broker blocked (or unblocked) this worker's connection: a memory or disk alarm. Blocked,
   * the master takes no more writes (the worker resumes them once nothing else holds them back),
   * so they wait in writeQ, and expire there at their deadline, instead of being applied here and
   * answered only when the alarm ends.
   */
  setBlocked(blocked: boolean): void {
    this.blocked = blocked;
    if (blocked) void this.stopTakingWrites();
  }

  /** One write of a group, in a savepoint of its own: its answer, and the message to broadcast when it was applied. */
  private applyOne({ command }: QueuedWrite): { answer: Reply<unknown>; sync?: SyncWrite } {
    const { store, epoch, logger } = this.options;
    const earlier = store.answered(command.requestId);
    // A retry: its first answer, given once that is confirmed (the group waits for it).
    if (earlier) return { answer: ok(earlier) };
    // The deadline is on the cluster's clock, as the orchestrator that set it reads it (ClusterClock.ts).
    if (this.options.signer.clock.now() > command.deadline) {
      return { answer: failure(new TimeoutError(`write ${command.requestId} reached the master after its deadline; not applied`)) };
    }
    try {
      const sync = store.applyAsMaster(command.requestId, command.write, epoch);
      return { answer: ok(sync.result), sync };
    } catch (error) {
      // The group's transaction is gone: the whole group fails (applyGroup), not this write alone.
      if (error instanceof RideShareError && error.code === 'TRANSACTION_ABORTED') throw error;
      if (!(error instanceof RideShareError)) logger.error({ err: error }, 'write failed');
      return { answer: failure(error) };
    }
  }

  /** Writes taken but not applied when the master stopped: back to writeQ, each message once. */
  private requeueQueued(channel: ConfirmChannel | undefined): void {
    const messages = new Set(this.queued.splice(0).map((write) => write.message));
    if (!channel) return; // a closed channel has given them back already
    for (const message of messages) {
      try {
        channel.nack(message, false, true);
      } catch {
        // The channel closed meanwhile: the broker requeues what it had not seen acked.
      }
    }
  }

  private noteConfirmed(seq: number): void {
    this.confirmedAhead.add(seq);
    while (this.confirmedAhead.delete(this.confirmedSeq + 1)) this.confirmedSeq += 1;
    if (this.confirmWaiters.length === 0) return;
    const reached = this.confirmWaiters.filter((waiter) => waiter.seq <= this.confirmedSeq);
    this.confirmWaiters = this.confirmWaiters.filter((waiter) => waiter.seq > this.confirmedSeq);
    for (const waiter of reached) waiter.resolve(true);
  }

  /**
   * Resolves true once every write up to `seq` is confirmed, false after `timeoutMs` (without
   * one, it waits: a confirm that never comes fails the master, see publishConfirmed).
   */
  private confirmedThrough(seq: number, timeoutMs?: number): Promise<boolean> {
    if (seq <= this.confirmedSeq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        seq,
        resolve: (reached: boolean) => {
          clearTimeout(timer);
          resolve(reached);
        },
      };
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.confirmWaiters = this.confirmWaiters.filter((other) => other !== waiter);
              resolve(false);
            }, timeoutMs);
      this.confirmWaiters.push(waiter);
    });
  }
}
