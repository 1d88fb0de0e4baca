/**
 * The master's side of replication: each group of applied writes goes to this epoch's sync exchange on a
 * confirm channel. A confirm means the broker has put the message on every replica's sync queue,
 * so a write is answered only once every replica is sure to receive it. A confirm can no longer
 * come once a newer master has fenced this epoch (see epoch-fence.ts).
 */
import type { ConfirmChannel } from 'amqplib';
import { encode, PROTOCOL_VERSION } from '../protocol/messages.ts';
import type { SyncEpoch, SyncGroup, SyncWrite } from '../protocol/sync.ts';
import type { ClusterNames } from '../protocol/names.ts';
import type { MessageSigner } from '../transport/signing.ts';
import { UnavailableError } from '../../shared/errors.ts';

export class SyncPublisher {
  private readonly exchange: string;

  constructor(
    private readonly channel: ConfirmChannel,
    names: ClusterNames,
    private readonly epoch: number,
    private readonly masterId: string,
    private readonly signer: MessageSigner,
  ) {
    this.exchange = names.syncEpochExchange(epoch);
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
      this.channel.publish(this.exchange, '', content, { ...signed, contentType: 'application/json' }, (error) => (error ? reject(new UnavailableError(`${what} was not confirmed`)) : resolve()));
    });
  }
}
