/**
 * The master: the single consumer of writeQ. For each write: apply it locally in one
 * transaction (with its seq and epoch), publish it to the sync fanout, and answer and ack only
 * once the broker confirmed it. A retried write (same request id) gets its first answer back.
 */
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import { decodeCommand } from '../protocol/messages.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { serveSnapshots, SNAPSHOT_PRIORITY } from '../replication/SnapshotTransfer.ts';
import { SyncPublisher } from '../replication/SyncPublisher.ts';
import { failure, ok, reply } from './replies.ts';
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
  logger: Logger;
  /** Called when the master must stop (fail-stop): an unconfirmed write, a lost channel. */
  onFatal(reason: string): void;
}

export class MasterRole {
  private writeChannel: ConfirmChannel | undefined;
  private publisher: SyncPublisher | undefined;
  private writeConsumer: string | undefined;
  private stopped = false;

  constructor(private readonly options: MasterRoleOptions) {}

  async start(): Promise<void> {
    const { connection, names, store } = this.options;
    await this.takeWrites();
    const snapshotChannel: Channel = await connection.createChannel();
    await serveSnapshots(snapshotChannel, names, () => store, SNAPSHOT_PRIORITY.master);
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
    this.publisher = new SyncPublisher(channel, this.options.names.syncExchange);
    return channel;
  }

  private onWrite(message: ConsumeMessage): void {
    const channel = this.writeChannel;
    const publisher = this.publisher;
    if (!channel || !publisher) return;
    const { store, epoch, logger } = this.options;
    let command;
    try {
      command = decodeCommand(message.content);
      if (command.kind !== 'write') throw new RideShareError('BAD_REQUEST', 'writeQ carries writes only');
    } catch (error) {
      reply(channel, message, failure(error));
      channel.ack(message);
      return;
    }
    const earlier = store.answered(command.requestId);
    if (earlier) {
      reply(channel, message, ok(earlier));
      channel.ack(message);
      return;
    }
    let sync;
    try {
      sync = store.applyAsMaster(command.requestId, command.write, epoch);
    } catch (error) {
      if (!(error instanceof RideShareError)) logger.error({ err: error }, 'write failed');
      reply(channel, message, failure(error));
      channel.ack(message);
      return;
    }
    publisher.publish(sync).then(
      () => {
        reply(channel, message, ok(sync.result));
        channel.ack(message);
      },
      (error: unknown) => this.options.onFatal(`write seq ${sync.seq} not confirmed: ${String(error)}`),
    );
  }
}
