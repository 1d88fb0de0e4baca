/**
 * Fencing an old master at the broker. Each epoch's master publishes to an exchange of its own,
 * bound to the sync fanout; a new master deletes the exchanges of the epochs before its own
 * before it takes a write. From then on a publish of an older epoch is refused by the broker
 * (the channel closes with 404 and nothing is routed or confirmed), so an old master that is
 * frozen, partitioned or on a host nobody can kill can never again have a write acknowledged.
 */
import type { ChannelModel } from 'amqplib';
import type { ClusterNames } from '../protocol/names.ts';

/** Exchanges older than this many epochs below ours are long gone; the bound keeps a start short. */
const MAX_EPOCHS_TO_FENCE = 1000;

/**
 * Creates this epoch's exchange and binds it to the sync fanout, then deletes every older epoch's
 * exchange from `fromEpoch` (the lowest epoch this replica has followed) on. Deleting an
 * exchange that does not exist is not an error in RabbitMQ, so the range may be generous.
 */
export async function openEpoch(connection: ChannelModel, names: ClusterNames, epoch: number, fromEpoch: number): Promise<void> {
  await openEpochExchange(connection, names, epoch);
  await fenceOlderEpochs(connection, names, epoch, fromEpoch);
}

/** This epoch's exchange, bound to the sync fanout: what its master publishes (its marks too) reaches the log. */
export async function openEpochExchange(connection: ChannelModel, names: ClusterNames, epoch: number): Promise<void> {
  const channel = await connection.createChannel();
  try {
    const own = names.syncEpochExchange(epoch);
    await channel.assertExchange(own, 'fanout', { durable: true });
    await channel.bindExchange(names.syncExchange, own, '');
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/**
 * Deletes the exchanges of the epochs from `fromEpoch` up to below `epoch`: their masters'
 * publishes are refused from then on. Needed before this epoch's first write, not before its
 * drain mark: what an older master publishes after that mark is never answered (its commit
 * record is refused since the bump of /epoch) and no follower applies it (it follows the newer
 * epoch from the mark on).
 */
export async function fenceOlderEpochs(connection: ChannelModel, names: ClusterNames, epoch: number, fromEpoch: number): Promise<void> {
  const channel = await connection.createChannel();
  try {
    for (let old = Math.max(0, fromEpoch, epoch - MAX_EPOCHS_TO_FENCE); old < epoch; old += 1) {
      await channel.deleteExchange(names.syncEpochExchange(old));
    }
  } finally {
    await channel.close().catch(() => undefined);
  }
}
