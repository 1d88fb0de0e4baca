/**
 * The master: the single consumer of writeQ. The writes that arrived together are applied locally
 * in one transaction (each with its own seq, in a savepoint of its own, so one that fails fails
 * alone), published to this epoch's sync exchange as one message, and answered and acked only
 * once the broker confirmed it. A retried write (same request id) gets its first answer
 * back; a write whose deadline has passed is never applied (its caller has already been told 503).
 */
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { RideShareError, TimeoutError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import { MAX_GROUP, type Position, type SingleCommand, type SyncWrite } from '../protocol/messages.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { serveSnapshots, SNAPSHOT_PRIORITY } from '../replication/SnapshotTransfer.ts';
import { SyncPublisher } from '../replication/SyncPublisher.ts';
import { failure, ok } from '../transport/replies.ts';
import { commandInbox, type Commands } from '../transport/commandInbox.ts';
import type { Inbox } from '../transport/Inbox.ts';
import { RequestReply } from '../transport/RequestReply.ts';
import type { MessageSigner } from '../transport/signing.ts';
import type { Store } from './Store.ts';
import { logRefusals, type Refusals } from '../transport/RefusedMessages.ts';

/** Messages in flight between delivery and confirm; confirms are pipelined, applying stays serial. */
const WRITE_PREFETCH = 256;
/** How long a retried write waits for its first application to be confirmed before a 503. */
const DUPLICATE_CONFIRM_WAIT_MS = 10_000;
/** How long a new master waits for the broker to drop the dead master's exclusive consumer. */
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
  /** Called when the master must stop (fail-stop): an unconfirmed write, a lost channel. */
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
  private positionAnnounced = false;
  /** Every write up to this seq is confirmed by the broker; confirms may arrive out of order. */
  private confirmedSeq = 0;
  private readonly confirmedAhead = new Set<number>();
  private confirmWaiters: { seq: number; resolve(reached: boolean): void }[] = [];
  private queued: QueuedWrite[] = [];
  private groupScheduled = false;

  private readonly refused: Refusals;
  /** writeQ's door (src/dbaas/transport/Inbox.ts): what comes out is signed and decoded. */
  private readonly writes: Inbox<Commands>;

  constructor(private readonly options: MasterRoleOptions) {
    this.refused = options.refused ?? logRefusals(options.logger);
    this.writes = commandInbox({ from: 'writeQ', signer: options.signer, refused: this.refused, channel: () => this.writeChannel });
  }

  async start(): Promise<void> {
    const { connection, names, store } = this.options;
    await this.takeWrites();
    const snapshotChannel: Channel = await connection.createChannel();
    this.confirmedSeq = store.appliedSeq;
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
   * (Re)starts consuming writeQ. The consumer is exclusive, so RabbitMQ refuses it while the old
   * master's connection lingers; each refusal closes the channel, so retry on a fresh one.
   */
  async takeWrites(): Promise<void> {
    if (this.writeConsumer) return;
    this.stopped = false;
    const deadline = Date.now() + TAKE_WRITES_TIMEOUT_MS;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const channel = this.writeChannel ?? (await this.openWriteChannel());
        const { consumerTag } = await channel.consume(this.options.names.writeQ, (message) => message && this.onWrite(message), {
          noAck: false,
          exclusive: true,
        });
        this.writeConsumer = consumerTag;
        return;
      } catch (error) {
        this.writeChannel = undefined;
        if (Date.now() > deadline) throw error;
        if (attempt === 1) this.options.logger.info('writeQ still held by the previous master; retrying');
        await sleep(50);
      }
    }
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
      // A refused exclusive consume also closes the channel; only losing a working one is fatal.
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
    if (!channel || !publisher || this.stopped) {
      this.requeueQueued(channel);
      return;
    }
    const group = this.queued.splice(0, MAX_GROUP);
    const applied: { write: QueuedWrite; sync: SyncWrite }[] = [];
    try {
      this.options.store.inTransaction(() => {
        for (const write of group) {
          const sync = this.applyOne(write);
          if (sync) applied.push({ write, sync });
        }
      });
    } catch (error) {
      // The commit itself failed: none of the group's writes is stored.
      this.options.logger.error({ err: error, writes: applied.length }, 'a group commit failed');
      for (const { write } of applied) write.answer.set(write.index, failure(error));
      return;
    }
    if (applied.length === 0) return;
    const syncs = applied.map(({ sync }) => sync);
    publisher.publish(syncs).then(
      () => {
        for (const { sync } of applied) this.noteConfirmed(sync.seq);
        for (const { write, sync } of applied) {
          this.options.logger.info({ seq: sync.seq, requestId: write.command.requestId, trace: write.command.trace }, 'write applied');
          write.answer.set(write.index, ok(sync.result));
        }
      },
      (error: unknown) => this.options.onFatal(`writes seq ${syncs[0]?.seq}..${syncs.at(-1)?.seq} not confirmed: ${String(error)}`),
    );
  }

  /** One write of a group, in a savepoint of its own; the message to broadcast, or undefined when it is answered already. */
  private applyOne({ command, answer, index }: QueuedWrite): SyncWrite | undefined {
    const { store, epoch, logger } = this.options;
    const earlier = store.answered(command.requestId);
    if (earlier) {
      // A retry: its first answer, once that is as safe as it was when first given.
      void this.confirmedThrough(earlier.seq, DUPLICATE_CONFIRM_WAIT_MS).then((confirmed) =>
        answer.set(index, confirmed ? ok(earlier) : failure(new TimeoutError(`write ${command.requestId} was applied but not yet confirmed`))),
      );
      return undefined;
    }
    if (Date.now() > command.deadline) {
      answer.set(index, failure(new TimeoutError(`write ${command.requestId} reached the master after its deadline; not applied`)));
      return undefined;
    }
    try {
      return store.applyAsMaster(command.requestId, command.write, epoch);
    } catch (error) {
      if (!(error instanceof RideShareError)) logger.error({ err: error }, 'write failed');
      answer.set(index, failure(error));
      return undefined;
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

  /** Resolves true once every write up to `seq` is confirmed, false after `timeoutMs`. */
  private confirmedThrough(seq: number, timeoutMs: number): Promise<boolean> {
    if (seq <= this.confirmedSeq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        seq,
        resolve: (reached: boolean) => {
          clearTimeout(timer);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => {
        this.confirmWaiters = this.confirmWaiters.filter((other) => other !== waiter);
        resolve(false);
      }, timeoutMs);
      this.confirmWaiters.push(waiter);
    });
  }
}
