/**
 * A replica's side of replication. Its own exclusive queue is bound to the sync fanout before it
 * copies a snapshot, so nothing published meanwhile is missed; messages are then applied strictly
 * in order (seq = applied + 1), duplicates are skipped, messages of an older epoch are ignored,
 * and a gap is reported rather than skipped (the replica must re-copy).
 */
import { EventEmitter } from 'node:events';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../../shared/logger.ts';
import { decodeSync } from '../protocol/messages.ts';
import type { Store } from '../worker/Store.ts';

/** Enough in flight to keep the replica busy; applying is synchronous, so order is kept. */
const SYNC_PREFETCH = 512;

export interface SyncFollowerEvents {
  applied: [seq: number];
  gap: [expected: number, received: number];
}

export class SyncFollower extends EventEmitter<SyncFollowerEvents> {
  private consumerTag: string | undefined;
  private followedEpoch = 0;
  private store!: Store;

  constructor(
    private readonly channel: Channel,
    private readonly queue: string,
    private readonly exchange: string,
    private readonly logger: Logger,
  ) {
    super();
  }

  /** Step 1 of joining: from here on every applied write waits in our queue. */
  async bind(): Promise<void> {
    await this.channel.assertQueue(this.queue, { exclusive: true, durable: false });
    await this.channel.bindQueue(this.queue, this.exchange, '');
  }

  /** Starts applying into `store` (the copy made from a snapshot taken after `bind`). */
  async start(store: Store): Promise<void> {
    this.store = store;
    this.followedEpoch = store.epoch;
    await this.channel.prefetch(SYNC_PREFETCH);
    const { consumerTag } = await this.channel.consume(this.queue, (message) => message && this.onMessage(message), { noAck: false });
    this.consumerTag = consumerTag;
  }

  /** Messages waiting in our queue (not yet delivered to us). */
  async backlog(): Promise<number> {
    return (await this.channel.checkQueue(this.queue)).messageCount;
  }

  /**
   * Applies everything left in the queue and stops following: the step before a promotion. The
   * old master is known dead by now, so once the queue is empty nothing older can still arrive.
   */
  async drainAndStop(): Promise<void> {
    if (this.consumerTag) await this.channel.cancel(this.consumerTag);
    this.consumerTag = undefined;
    for (;;) {
      const message = await this.channel.get(this.queue, { noAck: false });
      if (message === false) break;
      this.onMessage(message);
    }
    await this.channel.deleteQueue(this.queue);
  }

  private onMessage(message: ConsumeMessage | Exclude<Awaited<ReturnType<Channel['get']>>, false>): void {
    const sync = decodeSync(message.content);
    const applied = this.store.appliedSeq;
    if (sync.epoch < this.followedEpoch) {
      this.logger.warn({ seq: sync.seq, epoch: sync.epoch, followedEpoch: this.followedEpoch }, 'ignoring a sync message of an old epoch');
    } else if (sync.seq <= applied) {
      this.followedEpoch = sync.epoch;
    } else if (sync.seq === applied + 1) {
      this.store.applyReplicated(sync);
      this.followedEpoch = sync.epoch;
      this.emit('applied', sync.seq);
    } else {
      this.logger.error({ expected: applied + 1, received: sync.seq }, 'gap in the sync stream');
      this.channel.nack(message, false, true);
      this.emit('gap', applied + 1, sync.seq);
      return;
    }
    this.channel.ack(message);
  }
}
