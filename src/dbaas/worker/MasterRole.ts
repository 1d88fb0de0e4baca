/**
 * The master: the single consumer of writeQ. For each write: apply it locally in one
 * transaction (with its seq and epoch), publish it to the sync fanout, and answer and ack only
 * once the broker confirmed it. A retried write (same request id) gets its first answer back.
 */
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { decodeCommand } from '../protocol/messages.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { serveSnapshots, SNAPSHOT_PRIORITY } from '../replication/SnapshotTransfer.ts';
import { SyncPublisher } from '../replication/SyncPublisher.ts';
import { failure, ok, reply } from './replies.ts';
import type { Store } from './Store.ts';

/** Writes in flight between apply and confirm; confirms are pipelined, applying stays serial. */
const WRITE_PREFETCH = 256;

export interface MasterRoleOptions {
  writeChannel: ConfirmChannel;
  snapshotChannel: Channel;
  names: ClusterNames;
  store: Store;
  epoch: number;
  logger: Logger;
  /** Called when a write could not be confirmed: the master must stop (fail-stop). */
  onFatal(reason: string): void;
}

export class MasterRole {
  private readonly publisher: SyncPublisher;
  private writeConsumer: string | undefined;

  constructor(private readonly options: MasterRoleOptions) {
    this.publisher = new SyncPublisher(options.writeChannel, options.names.syncExchange);
  }

  async start(): Promise<void> {
    const { snapshotChannel, names, store } = this.options;
    await this.options.writeChannel.prefetch(WRITE_PREFETCH);
    await this.takeWrites();
    await serveSnapshots(snapshotChannel, names, () => store, SNAPSHOT_PRIORITY.master);
  }

  /** (Re)starts consuming writeQ; a no-op while consuming. */
  async takeWrites(): Promise<void> {
    if (this.writeConsumer) return;
    // Exclusive: RabbitMQ refuses a second consumer, so two masters can never take writes at once.
    const { consumerTag } = await this.options.writeChannel.consume(this.options.names.writeQ, (message) => message && this.onWrite(message), {
      noAck: false,
      exclusive: true,
    });
    this.writeConsumer = consumerTag;
  }

  /** Stops taking writes at once (e.g. the ZooKeeper session is in doubt). */
  async stopTakingWrites(): Promise<void> {
    const tag = this.writeConsumer;
    this.writeConsumer = undefined;
    if (tag) await this.options.writeChannel.cancel(tag).catch(() => undefined);
  }

  private onWrite(message: ConsumeMessage): void {
    const { writeChannel: channel, store, epoch, logger } = this.options;
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
    this.publisher.publish(sync).then(
      () => {
        reply(channel, message, ok(sync.result));
        channel.ack(message);
      },
      (error: unknown) => this.options.onFatal(`write seq ${sync.seq} not confirmed: ${String(error)}`),
    );
  }
}
