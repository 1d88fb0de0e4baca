/**
 * The cluster's dead letters: every message a worker refuses without executing it (not signed
 * with the cluster key, or not a message of this protocol) is kept on `<cluster>.refused` for an
 * operator to look at, with why, where it came from and who refused it. Messages the broker
 * dead-lettered after DELIVERY_LIMIT deliveries (src/dbaas/transport/topology.ts) are kept here too,
 * with its x-death header instead of ours. The queue holds the newest REFUSED_QUEUE_LIMIT only, so
 * a flood of junk cannot fill the broker.
 *
 *   rabbitmqadmin get queue=<cluster>.refused count=10      # or the management UI
 */
import type { Channel, ConsumeMessage, GetMessage, Options } from 'amqplib';
import type { Logger } from '../../shared/logger.ts';
import { SIGNATURE_HEADER } from './signing.ts';

export const REFUSED_QUEUE_LIMIT = 1000;

/**
 * Declared identically by every process (RabbitMQ refuses other arguments for an existing queue).
 * A quorum queue like the others (src/dbaas/transport/topology.ts): what it keeps outlives a node.
 */
export const REFUSED_QUEUE_OPTIONS: Options.AssertQueue = {
  durable: true,
  arguments: { 'x-queue-type': 'quorum', 'x-max-length': REFUSED_QUEUE_LIMIT, 'x-overflow': 'drop-head' },
};

/** What a worker does with a message it will not execute. */
export interface Refusals {
  keep(message: ConsumeMessage | GetMessage, from: string, reason: string, error?: unknown): void;
}

/** For a part started without a refused queue (a test's own snapshot server, say): the refusal is only logged. */
export function logRefusals(logger: Logger | undefined): Refusals {
  return { keep: (message, from, reason, error) => logger?.warn({ from, bytes: message.content.length, ...(error === undefined ? {} : { err: error }) }, reason) };
}

export class RefusedMessages implements Refusals {
  constructor(
    private channel: Channel,
    private readonly queue: string,
    private readonly workerId: string,
    private readonly logger: Logger,
  ) {
    this.watch(channel);
  }

  /** Keeps copies on `channel` from now on: a slave that reconnected opens a new one. */
  useChannel(channel: Channel): void {
    this.channel = channel;
    this.watch(channel);
  }

  private watch(channel: Channel): void {
    // Keeping copies is a courtesy: a channel the broker closes must not take the worker with it.
    channel.on('error', (error: unknown) => this.logger.warn({ err: error }, 'the refused-messages channel failed; refusals are only logged from now on'));
  }

  /**
   * Logs the refusal and keeps a copy of the message; the caller still acks the original on its
   * own channel. Never throws: a lost copy must not stop the worker from refusing.
   */
  keep(message: ConsumeMessage | GetMessage, from: string, reason: string, error?: unknown): void {
    this.logger.warn({ from, keptOn: this.queue, bytes: message.content.length, ...(error === undefined ? {} : { err: error }) }, reason);
    const { [SIGNATURE_HEADER]: signature, ...headers } = (message.properties.headers ?? {}) as Record<string, unknown>;
    try {
      this.channel.sendToQueue(this.queue, message.content, {
        persistent: false,
        headers: {
          ...headers,
          'x-refused-from': from,
          'x-refused-reason': error === undefined ? reason : `${reason}: ${String(error)}`.slice(0, 500),
          'x-refused-by': this.workerId,
          'x-refused-at': new Date().toISOString(),
          'x-was-signed': signature !== undefined,
        },
      });
    } catch (copyError) {
      this.logger.warn({ err: copyError }, 'a refused message could not be kept on the refused queue');
    }
  }
}
