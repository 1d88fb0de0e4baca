/**
 * A replica's side of replication: it reads the sync log (a RabbitMQ stream, one order for every
 * reader) from the point where it joined. It attaches before it copies a snapshot, so nothing
 * published meanwhile is missed; what arrives before the copy is there waits in memory (the
 * prefetch bounds it; the rest waits in the log). Writes are then applied strictly in order
 * (seq = applied + 1). Nothing is ever skipped on trust:
 * - a message of an epoch older than the one followed is a late frame of a fenced master: ignored;
 * - a seq already held is a duplicate only if it carries the request id stored at that seq;
 *   another request id there means the replicas diverged;
 * - an epoch mark with a position says where the master is: a replica elsewhere has diverged
 *   (ahead) or missed writes (behind); the same mark seen again is a repeat, another position
 *   for the same epoch a divergence;
 * - a seq beyond applied + 1 is a gap.
 * Divergence and gaps are reported, never repaired in place: the replica must stop and re-copy.
 *
 * It keeps the stream offset of the last message it handled, so that after a lost connection it
 * can read on from the next one on a new channel (resume) with every check above unchanged: the
 * first message must then be the next write (or one it holds, a duplicate), else it is a gap.
 */
import { EventEmitter } from 'node:events';
import type { Channel, ConsumeMessage } from 'amqplib';
import { Inbox } from '../transport/Inbox.ts';
import type { Logger } from '../../shared/logger.ts';
import type { MessageSigner } from '../transport/signing.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import { decodeSync, type SyncEpoch, type SyncMessage, type SyncWrite } from '../protocol/sync.ts';
import type { ReplicaStore } from './ReplicaStore.ts';
import { logRefusals, type Refusals } from '../transport/RefusedMessages.ts';
import { RideShareError, TimeoutError } from '../../shared/errors.ts';

/**
 * Enough in flight to keep the replica busy; applying is synchronous, so order is kept. A stream
 * consumer must have one: it is the credit the broker delivers against.
 */
const SYNC_PREFETCH = 512;

export interface SyncFollowerEvents {
  /** After each sync message: the highest seq now applied (a group's last). */
  applied: [seq: number];
  /** The replica cannot follow this stream any more (a gap or a divergence): it must re-copy. */
  broken: [reason: string];
  /** An epoch mark was processed: every message routed before that epoch's fence is applied. */
  epoch: [epoch: number];
}

export class SyncFollower extends EventEmitter<SyncFollowerEvents> {
  private consumerTag: string | undefined;
  /** The stream offset of the last message handled (applied, checked or ignored); none yet: undefined. */
  private handledOffset: number | undefined;
  private followedEpoch = 0;
  /** The seq the snapshot held: stream messages at or below it may be older than the copy. */
  private snapshotSeq = 0;
  /** The epoch the snapshot held: that epoch's position mark was behind the copy. */
  private snapshotEpoch = 0;
  /** The last position mark checked: a later one of the same epoch must repeat it exactly. */
  private checkedPosition: { epoch: number; seq: number; masterId: string } | undefined;
  private store!: ReplicaStore;
  private broken = false;
  /** Reading ended for a promotion. */
  private done = false;
  private readonly inbox: Inbox<SyncMessage>;
  /** Delivered before start(): applied once the store is there. */
  private waiting: ConsumeMessage[] | undefined = [];

  constructor(
    /** Replaced by resume() after a lost connection. */
    private channel: Channel,
    private readonly log: string,
    signer: MessageSigner,
    private readonly logger: Logger,
    /** Where sync messages refused unapplied are kept (none: only logged). */
    refused: Refusals = logRefusals(logger),
  ) {
    super();
    this.inbox = new Inbox<SyncMessage>({
      from: 'sync',
      what: 'sync message',
      signer,
      // Only a master publishes the stream; its messages never expire (a lagging replica must
      // not lose writes, and seqs and epochs already make a replayed one harmless).
      senders: ['master'],
      refused,
      decode: (message) => decodeSync(message.content),
      // Signed by a master of this cluster, yet not a message this version reads: a master of
      // another protocol version. Skipping it could skip a write; a mixed-version stream fails loudly.
      answerMalformed: (_message, envelope, error) => this.fail(`a sync message from master ${envelope.sender.id} that this version (protocol ${PROTOCOL_VERSION}) cannot read: ${String(error)}`),
      settle: (message) => this.settle(message),
    });
  }

  /**
   * Step 1 of joining: reading the log from its next entry. Every write published from here on
   * reaches this replica; a master applies a write before it publishes it, so every earlier one
   * is in any copy taken at the master's position asked after this.
   */
  attach(): Promise<void> {
    return this.consume('next');
  }

  /**
   * After the connection was lost: reads on from the message after the last one handled, on
   * `channel` (of the new connection). Applying goes on where it stopped; the first message must
   * continue the replica (onWrite's checks), or the follower breaks as it would on any gap.
   */
  async resume(channel: Channel): Promise<void> {
    const offset = this.resumeOffset;
    if (offset === undefined) throw new RideShareError('INVALID_STATE', 'no sync message handled yet: nowhere known to resume the sync log from');
    if (this.waiting || this.broken || this.done) throw new RideShareError('INVALID_STATE', 'only a replica that is following the sync log can resume it');
    this.channel = channel;
    await this.consume(offset);
  }

  /** The offset resume() would read from: the one after the last message handled (undefined: none handled yet). */
  get resumeOffset(): number | undefined {
    return this.handledOffset === undefined ? undefined : this.handledOffset + 1;
  }

  private async consume(offset: 'next' | number): Promise<void> {
    const channel = this.channel;
    await channel.prefetch(SYNC_PREFETCH);
    const { consumerTag } = await channel.consume(
      this.log,
      (message) => {
        // A delivery of a channel replaced since (a resume raced with it) is not ours to handle.
        if (channel !== this.channel) return;
        // The broker cancelled the consumer (the log was deleted, or its replica here went away).
        if (!message) return this.done ? undefined : this.fail('the broker cancelled this replica\u2019s reading of the sync log');
        if (this.waiting) this.waiting.push(message);
        else this.onMessage(message);
      },
      { noAck: false, arguments: { 'x-stream-offset': offset } },
    );
    this.consumerTag = consumerTag;
  }

  /** Starts applying into `store` (the copy made from a snapshot taken after `attach`). */
  start(store: ReplicaStore): void {
    this.store = store;
    this.followedEpoch = store.epoch;
    this.snapshotSeq = store.appliedSeq;
    this.snapshotEpoch = store.epoch;
    const waiting = this.waiting ?? [];
    this.waiting = undefined;
    for (const message of waiting) this.onMessage(message);
  }

  get epoch(): number {
    return this.followedEpoch;
  }

  /**
   * The step before a promotion: `sendMark` publishes the new epoch's mark (after the fence), and
   * everything ahead of it in the log is applied; then reading stops.
   */
  async drainThrough(epoch: number, sendMark: () => Promise<void>, timeoutMs: number): Promise<void> {
    const reached = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(`the epoch ${epoch} mark did not come back within ${timeoutMs} ms`)), timeoutMs);
      const onEpoch = (seen: number) => {
        if (seen < epoch) return;
        clearTimeout(timer);
        this.off('epoch', onEpoch);
        resolve();
      };
      this.on('epoch', onEpoch);
    });
    await sendMark();
    await reached;
    const tag = this.consumerTag;
    this.consumerTag = undefined;
    // What the log holds after the mark is this replica's own, as master: not followed.
    this.done = true;
    if (tag) await this.channel.cancel(tag);
  }

  private onMessage(message: ConsumeMessage): void {
    if (this.broken || this.done) return;
    // Never handled twice: a reader asking for an offset could be handed the entries before it in
    // the same chunk (RabbitMQ 3.10 leaves them out; this does not depend on it).
    const offset = streamOffset(message);
    if (offset !== undefined && this.handledOffset !== undefined && offset <= this.handledOffset) {
      this.channel.ack(message);
      return;
    }
    // A forgery is refused and kept, never fatal: it is not the master's. A signed message that does
    // not decode is fatal (see the inbox's answerMalformed above).
    const sync = this.inbox.take(message)?.value;
    if (!sync) return;
    if (sync.epoch < this.followedEpoch) {
      this.logger.warn({ kind: sync.kind, epoch: sync.epoch, followedEpoch: this.followedEpoch }, 'ignoring a late message of a fenced epoch');
      this.settle(message);
      return;
    }
    const problem = sync.kind === 'epoch' ? this.onEpochMark(sync) : this.onWrites(sync.kind === 'group' ? sync.writes : [sync]);
    if (problem) {
      this.fail(problem);
      return;
    }
    this.settle(message);
  }

  /** A message done with (applied, checked, ignored or refused): acked, and its offset is where a resume reads on from. */
  private settle(message: ConsumeMessage): void {
    this.handledOffset = streamOffset(message) ?? this.handledOffset;
    this.channel.ack(message);
  }

  private fail(problem: string): void {
    if (this.broken) return;
    this.broken = true;
    this.logger.error({ problem, seq: this.store.appliedSeq, epoch: this.followedEpoch }, 'the replica cannot follow the sync stream');
    this.emit('broken', problem);
  }

  private onEpochMark(mark: SyncEpoch): string | undefined {
    const problem = mark.seq === undefined ? undefined : this.checkPosition(mark.epoch, mark.seq, mark.masterId);
    if (problem) return problem;
    if (mark.epoch > this.followedEpoch) {
      this.followedEpoch = mark.epoch;
      this.store.setEpoch(Math.max(this.store.epoch, mark.epoch));
    }
    this.emit('epoch', mark.epoch);
    return undefined;
  }

  /**
   * A master announces its position once, before its first write: every replica must be exactly
   * there. The same mark seen again (a replay) is a repeat; another position for an epoch already
   * checked is a problem. A mark that is not a repeat is checked, whatever epoch this replica
   * follows already (a promotion's fence mark of the same epoch comes first), unless the copy
   * this replica began from was taken in that epoch, after that mark.
   */
  private checkPosition(epoch: number, seq: number, masterId: string): string | undefined {
    const applied = this.store.appliedSeq;
    const checked = this.checkedPosition;
    if (checked?.epoch === epoch) {
      if (checked.seq === seq && checked.masterId === masterId) {
        this.logger.warn({ epoch, seq, applied }, 'ignoring a repeated epoch mark');
        return undefined;
      }
      return `diverged: epoch ${epoch} announced seq ${checked.seq} by ${checked.masterId}, now seq ${seq} by ${masterId}`;
    }
    this.checkedPosition = { epoch, seq, masterId };
    if (epoch === this.snapshotEpoch && seq <= this.snapshotSeq) return undefined;
    if (seq > applied) return `gap: master ${masterId} of epoch ${epoch} is at seq ${seq}, this replica at ${applied}`;
    // Below the snapshot's seq the mark is merely older than the copy; above it, our extra writes came from elsewhere.
    if (seq < applied && seq >= this.snapshotSeq) return `diverged: master ${masterId} of epoch ${epoch} is at seq ${seq}, this replica applied up to ${applied}`;
    return undefined;
  }

  /**
   * A group commit's writes, applied in one transaction as the master did. A problem part-way
   * keeps what went before: each of those writes was whole and in order.
   */
  private onWrites(writes: SyncWrite[]): string | undefined {
    const before = this.store.appliedSeq;
    let problem: string | undefined;
    this.store.inTransaction(() => {
      for (const write of writes) {
        problem = this.onWrite(write);
        if (problem) return;
      }
    });
    // Told after the commit: whoever waits for a seq may read it at once.
    if (this.store.appliedSeq > before) this.emit('applied', this.store.appliedSeq);
    return problem;
  }

  private onWrite(sync: SyncWrite): string | undefined {
    const applied = this.store.appliedSeq;
    if (sync.seq === applied + 1) {
      this.store.applyReplicated(sync);
      this.logger.info({ seq: sync.seq, requestId: sync.requestId }, 'write replicated');
      this.followedEpoch = Math.max(this.followedEpoch, sync.epoch);
      return undefined;
    }
    if (sync.seq > applied + 1) return `gap: expected seq ${applied + 1}, received ${sync.seq}`;
    const held = this.store.requestAt(sync.seq);
    if (held !== undefined && held !== sync.requestId) {
      return `diverged at seq ${sync.seq}: this replica holds request ${held}, epoch ${sync.epoch} sent ${sync.requestId}`;
    }
    this.followedEpoch = Math.max(this.followedEpoch, sync.epoch);
    return undefined;
  }
}

/** The offset a stream delivery carries in its x-stream-offset header (a number, or a bigint past 2^53). */
function streamOffset(message: ConsumeMessage): number | undefined {
  const offset = (message.properties.headers as Record<string, unknown> | undefined)?.['x-stream-offset'];
  if (typeof offset === 'number') return offset;
  if (typeof offset === 'bigint') return Number(offset);
  return undefined;
}
