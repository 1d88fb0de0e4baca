/**
 * The bare RPC echo's queue, classic or quorum. A quorum queue cannot delete itself when its
 * consumer leaves, so it is given an idle expiry instead: a run that dies without deleting it
 * leaves nothing on the broker for long.
 */
import type { Options } from 'amqplib';

export type EchoQueueType = 'classic' | 'quorum';

/** How long an unused quorum echo queue outlives its bench run, at the most. */
const QUORUM_IDLE_EXPIRY_MS = 60_000;

export function echoQueueOptions(type: EchoQueueType): Options.AssertQueue {
  return type === 'classic' ? { durable: false, autoDelete: true } : { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-expires': QUORUM_IDLE_EXPIRY_MS } };
}

export function isEchoQueueType(value: string | undefined): value is EchoQueueType {
  return value === 'classic' || value === 'quorum';
}
