/**
 * A slave: serves readQ (round-robin with the other slaves) once it has caught up, and keeps
 * following the sync stream. A read may ask for a minimum seq (read-your-writes); a slave that
 * is behind waits a bounded time for it rather than answering stale data.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import type { SingleCommand } from '../protocol/messages.ts';
import type { Reply } from '../protocol/reply.ts';
import type { ReadResult } from '../protocol/results.ts';
import type { ClusterNames } from '../protocol/names.ts';
import type { ReadQuery } from '../protocol/queries.ts';
import { appliedSeqWaiter, serveSnapshots, SNAPSHOT_PRIORITY, type SnapshotServer } from '../replication/snapshot-transfer.ts';
import type { SyncFollower } from '../replication/SyncFollower.ts';
import { failure, ok } from '../transport/replies.ts';
import { commandInbox, type Commands } from '../transport/command-inbox.ts';
import type { Inbox } from '../transport/Inbox.ts';
import { RequestReply } from '../transport/RequestReply.ts';
import type { MessageSigner } from '../transport/signing.ts';
import type { Store } from './Store.ts';
import { logRefusals, type Refusals } from '../transport/RefusedMessages.ts';

const READ_PREFETCH = 32;

export interface SlaveRoleOptions {
  readChannel: Channel;
  snapshotChannel: Channel;
  names: ClusterNames;
  store: Store;
  follower: SyncFollower;
  workerId: string;
  readWaitMs: number;
  /** Checks every command and signs, as a slave, every answer (src/dbaas/transport/signing.ts). */
  signer: MessageSigner;
  /** Where reads refused unexecuted are kept (none: only logged). */
  refused?: Refusals;
  logger: Logger;
}

interface SeqWaiter {
  seq: number;
  resolve(): void;
}

export class SlaveRole {
  private readConsumer: string | undefined;
  private snapshotServer: SnapshotServer | undefined;
  private waiters: SeqWaiter[] = [];
  private inFlight = 0;
  private idle: (() => void) | undefined;

  private readonly refused: Refusals;
  /** readQ's door (src/dbaas/transport/Inbox.ts): what comes out is signed and decoded. */
  private readonly reads: Inbox<Commands>;
  /** Releases the reads waiting for a seq; removed once serving ends. */
  private readonly onApplied = (seq: number): void => this.release(seq);

  constructor(private readonly options: SlaveRoleOptions) {
    this.refused = options.refused ?? logRefusals(options.logger);
    this.reads = commandInbox({ from: 'readQ', signer: options.signer, refused: this.refused, channel: () => options.readChannel });
    options.follower.on('applied', this.onApplied);
  }

  async startServing(): Promise<void> {
    const { readChannel, snapshotChannel, names, store } = this.options;
    await readChannel.prefetch(READ_PREFETCH);
    this.readConsumer = (await readChannel.consume(names.readQ, (message) => message && void this.onRead(message), { noAck: false })).consumerTag;
    const waitForSeq = appliedSeqWaiter(this.options.follower, () => store.appliedSeq);
    this.snapshotServer = await serveSnapshots({
      channel: snapshotChannel,
      names,
      store: () => store,
      priority: SNAPSHOT_PRIORITY.slave,
      waitForSeq,
      signer: this.options.signer,
      refused: this.refused,
      logger: this.options.logger,
    });
  }

  /** Stops taking reads and snapshot requests, and resolves once the reads in flight are answered. */
  async stopServing(): Promise<void> {
    const { readChannel } = this.options;
    if (this.readConsumer) await readChannel.cancel(this.readConsumer).catch(() => undefined);
    await this.snapshotServer?.stop();
    this.readConsumer = this.snapshotServer = undefined;
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    // The follower goes on (a promotion drains it, a reconnected slave serves again with a new role).
    this.options.follower.off('applied', this.onApplied);
  }

  private onRead(message: ConsumeMessage): void {
    const { readChannel: channel } = this.options;
    const decoded = this.reads.take(message)?.value;
    if (!decoded) return;
    const { commands } = decoded;
    this.inFlight += 1;
    const answer = new RequestReply(channel, this.options.signer, message, decoded.batched, commands.length, () => {
      this.inFlight -= 1;
      if (this.inFlight === 0) this.idle?.();
    });
    for (const [index, command] of commands.entries()) {
      if (command instanceof Error) {
        this.options.logger.warn({ err: command }, 'refusing a malformed command on readQ');
        answer.set(index, failure(command));
        continue;
      }
      if (command.kind !== 'read') {
        answer.set(index, failure(new RideShareError('BAD_REQUEST', 'readQ carries reads only')));
        continue;
      }
      // A read that needs a later seq waits (and the batch's one reply with it); the others run now.
      const waiting = this.waitFor(command.query);
      if (!waiting) {
        answer.set(index, this.execute(command));
        continue;
      }
      waiting.then(
        () => answer.set(index, this.execute(command)),
        (error: unknown) => answer.set(index, failure(error)),
      );
    }
  }

  private execute(command: Extract<SingleCommand, { kind: 'read' }>): Reply<ReadResult> {
    try {
      const result: ReadResult = { rows: this.options.store.read(command.query), seq: this.options.store.appliedSeq, worker: this.options.workerId };
      this.options.logger.debug({ trace: command.trace, seq: result.seq, rows: result.rows.length }, 'read answered');
      return ok(result);
    } catch (error) {
      return failure(error);
    }
  }

  private waitFor(query: ReadQuery): Promise<void> | void {
    const wanted = query.minSeq ?? 0;
    if (wanted <= this.options.store.appliedSeq) return;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        reject(new RideShareError('UNAVAILABLE', `replica has applied seq ${this.options.store.appliedSeq}, read needs ${wanted}`));
      }, this.options.readWaitMs);
      const entry: SeqWaiter = {
        seq: wanted,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(entry);
    });
  }

  private release(applied: number): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((waiter) => waiter.seq <= applied);
    this.waiters = this.waiters.filter((waiter) => waiter.seq > applied);
    for (const waiter of ready) waiter.resolve();
  }
}
