/**
 * The master: the single consumer of writeQ. For each write: apply it locally in one
 * transaction (with its seq and epoch), publish it to this epoch's sync exchange, and answer and
 * ack only once the broker confirmed it. A retried write (same request id) gets its first answer
 * back; a write whose deadline has passed is never applied (its caller has already been told 503).
 */
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { RideShareError, TimeoutError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import { decodeCommand, type DbCommand, type Position } from '../protocol/messages.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { serveSnapshots, SNAPSHOT_PRIORITY } from '../replication/SnapshotTransfer.ts';
import { SyncPublisher } from '../replication/SyncPublisher.ts';
import { failure, ok, reply } from '../transport/replies.ts';
import type { MessageSigner } from '../transport/signing.ts';
import type { Store } from './Store.ts';

/** Writes in flight between apply and confirm; confirms are pipelined, applying stays serial. */
const WRITE_PREFETCH = 256;
/** How long a new master waits for the broker to drop the dead master's exclusive consumer. */
const TAKE_WRITES_TIMEOUT_MS = 15_000;

export interface MasterRoleOptions {
  connection: ChannelModel;
  names: ClusterNames;
  store: Store;
  epoch: number;
  workerId: string;
  /** Checks commands and signs what the master publishes (src/dbaas/transport/signing.ts). */
  signer: MessageSigner;
  logger: Logger;
  /** Called when the master must stop (fail-stop): an unconfirmed write, a lost channel. */
  onFatal(reason: string): void;
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

  constructor(private readonly options: MasterRoleOptions) {}

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
    const publisher = this.publisher;
    if (!channel || !publisher) return;
    if (this.stopped) {
      // Delivered before the cancel took effect: back to the queue for whoever takes writes next.
      channel.nack(message, false, true);
      return;
    }
    if (!this.options.signer.verify(message)) {
      // Not from the cluster: no answer (its reply-to is nobody we serve), not executed.
      this.options.logger.warn({ bytes: message.content.length }, 'refusing an unsigned command on writeQ');
      channel.ack(message);
      return;
    }
    let command: DbCommand;
    try {
      command = decodeCommand(message.content);
      if (command.kind === 'read') throw new RideShareError('BAD_REQUEST', 'writeQ carries writes only');
    } catch (error) {
      this.options.logger.warn({ err: error }, 'refusing a malformed command on writeQ');
      this.answer(channel, message, failure(error));
      return;
    }
    if (command.kind === 'position') {
      const position: Position = { seq: this.options.store.appliedSeq, epoch: this.options.epoch };
      this.answer(channel, message, ok(position));
      return;
    }
    this.applyWrite(channel, publisher, message, command);
  }

  private applyWrite(channel: ConfirmChannel, publisher: SyncPublisher, message: ConsumeMessage, command: Extract<DbCommand, { kind: 'write' }>): void {
    const { store, epoch, logger } = this.options;
    const earlier = store.answered(command.requestId);
    if (earlier) {
      this.answer(channel, message, ok(earlier));
      return;
    }
    if (Date.now() > command.deadline) {
      this.answer(channel, message, failure(new TimeoutError(`write ${command.requestId} reached the master after its deadline; not applied`)));
      return;
    }
    let sync;
    try {
      sync = store.applyAsMaster(command.requestId, command.write, epoch);
    } catch (error) {
      if (!(error instanceof RideShareError)) logger.error({ err: error }, 'write failed');
      this.answer(channel, message, failure(error));
      return;
    }
    publisher.publish(sync).then(
      () => {
        this.noteConfirmed(sync.seq);
        logger.info({ seq: sync.seq, requestId: command.requestId, trace: command.trace }, 'write applied');
        this.answer(channel, message, ok(sync.result));
      },
      (error: unknown) => this.options.onFatal(`write seq ${sync.seq} not confirmed: ${String(error)}`),
    );
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

  private answer(channel: Channel, message: ConsumeMessage, body: Parameters<typeof reply>[2]): void {
    reply(channel, message, body);
    channel.ack(message);
  }
}
