/**
 * The master's side of replication: each group of applied writes goes to this epoch's sync
 * exchange on a confirm channel, and from there to the sync log (a stream). A confirm means a
 * majority of the broker's nodes hold the message in the log, so a write is answered only once
 * it outlives any one node, and every replica will read it. A publish is mandatory: one that
 * reached no log (the log deleted, or never bound) comes back and counts as not confirmed,
 * instead of being confirmed with nowhere to go. A confirm can no longer come once a newer master
 * has fenced this epoch (see epoch-fence.ts).
 */
import type { ConfirmChannel } from 'amqplib';
import { encode, PROTOCOL_VERSION } from '../protocol/messages.ts';
import type { SyncEpoch, SyncGroup, SyncWrite } from '../protocol/sync.ts';
import type { ClusterNames } from '../protocol/names.ts';
import type { MessageSigner } from '../transport/signing.ts';
import { UnavailableError } from '../../shared/errors.ts';

export class SyncPublisher {
  private readonly exchange: string;
  /** Message ids of publishes the broker returned unrouted; a return comes before its confirm. */
  private readonly returned = new Set<string>();
  private published = 0;

  constructor(
    private readonly channel: ConfirmChannel,
    names: ClusterNames,
    private readonly epoch: number,
    private readonly masterId: string,
    private readonly signer: MessageSigner,
  ) {
    this.exchange = names.syncEpochExchange(epoch);
    channel.on('return', (message: { properties: { messageId?: unknown } }) => {
      if (typeof message.properties.messageId === 'string') this.returned.add(message.properties.messageId);
    });
  }

  /** The writes of one group commit, in seq order, as one message. */
  publish(writes: SyncWrite[]): Promise<void> {
    const message: SyncGroup = { v: PROTOCOL_VERSION, kind: 'group', epoch: this.epoch, writes };
    return this.send(message, `sync publish of seqs ${writes[0]?.seq}..${writes.at(-1)?.seq}`);
  }

  /** This epoch's mark; with `seq`, the master's position, which every follower must then be at. */
  mark(seq?: number): Promise<void> {
    const message: SyncEpoch = { v: PROTOCOL_VERSION, kind: 'epoch', epoch: this.epoch, masterId: this.masterId, ...(seq === undefined ? {} : { seq }) };
    return this.send(message, `epoch ${this.epoch} mark`);
  }

  private send(message: unknown, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const content = encode(message);
      const signed = this.signer.seal({ to: this.exchange, expiresAt: 0 }, content);
      this.published += 1;
      const messageId = `${this.masterId}/${this.published}`;
      this.channel.publish(this.exchange, '', content, { ...signed, contentType: 'application/json', mandatory: true, messageId }, (error) => {
        if (error) reject(new UnavailableError(`${what} was not confirmed`));
        else if (this.returned.delete(messageId)) reject(new UnavailableError(`${what} reached no sync log (the broker returned it)`));
        else resolve();
      });
    });
  }
}
