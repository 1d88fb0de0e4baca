/**
 * A slave's way back after its RabbitMQ connection was lost (a broker node restarted, a link
 * reset): instead of stopping and leaving the supervisor to start a new slave that copies a whole
 * snapshot, it reconnects and reads the sync log on from its own offset. Meanwhile it is reported
 * not ready in ZooKeeper, so it is neither promoted nor counted as serving; readQ's consumer went
 * with the connection, so no read reaches it either.
 *
 * One attempt: a connection (any node of AMQP_URL, each with its connect timeout), then the
 * worker's resume on it (the sync log from the next offset, caught up, readQ consumed again),
 * then ready again. An attempt that fails, or whose connection closes before it is over, is
 * given up and another one made, until the bound: past it the slave stops, as before.
 */
import type { ChannelModel } from 'amqplib';
import { RideShareError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { sleep, withTimeout } from '../../shared/timeout.ts';

/**
 * How long a slave may take to come back. A link reset or another node of the cluster takes
 * well under a second; a restarted node a few seconds (the soak's broker kill: up to 1.5 s
 * down, then its boot); each connect is bounded at 5 s per node (src/dbaas/transport/amqp.ts).
 * Past 15 s the outage is no blip, and a fresh slave's snapshot copy is the better way back:
 * the supervisor starts one once this one stops.
 */
export const SLAVE_RECONNECT_BOUND_MS = 15_000;
/** Between two attempts: a node that just refused is tried last by the next (amqp.ts), a restarting one gets a moment. */
const RETRY_PAUSE_MS = 250;

export interface SlaveReconnectionSteps {
  /** The slave reported not ready in ZooKeeper (the failover promotes ready slaves only). */
  markNotReady(): Promise<void>;
  /** A new connection to the broker, with the worker's own handlers and channels on it. */
  connect(): Promise<ChannelModel>;
  /** On `connection`: the sync log read on from the last applied offset, caught up, readQ consumed again. */
  resumeOn(connection: ChannelModel): Promise<void>;
  /** The slave reported ready again. */
  markReady(): Promise<void>;
}

export class SlaveReconnection {
  private abandoned = false;

  constructor(
    private readonly steps: SlaveReconnectionSteps,
    private readonly logger: Logger,
    private readonly boundMs = SLAVE_RECONNECT_BOUND_MS,
  ) {}

  /**
   * Resolves with the new connection once the slave serves again and is reported ready; rejects
   * when that did not happen within the bound (the slave must then stop).
   */
  async run(): Promise<ChannelModel> {
    const began = performance.now();
    try {
      const connection = await withTimeout(this.attempts(began), this.boundMs, 'UNAVAILABLE', 'the slave did not reconnect and resume the sync log');
      this.logger.info({ ms: Math.round(performance.now() - began) }, 'reconnected to RabbitMQ; resumed the sync log without a new copy');
      return connection;
    } finally {
      // Past the bound an attempt may still be under way: it must not report the slave ready.
      this.abandoned = true;
    }
  }

  /** Stops trying (the worker is stopping): an attempt under way ends at its next step. */
  abandon(): void {
    this.abandoned = true;
  }

  private async attempts(began: number): Promise<ChannelModel> {
    await this.step(() => this.steps.markNotReady());
    for (let attempt = 1; ; attempt += 1) {
      let connection: ChannelModel | undefined;
      try {
        connection = await this.step(() => this.steps.connect());
        await this.whileOpen(connection, () => this.steps.resumeOn(connection as ChannelModel));
        await this.whileOpen(connection, () => this.steps.markReady());
        return connection;
      } catch (error) {
        if (this.abandoned) throw error;
        this.logger.warn({ err: error, attempt, ms: Math.round(performance.now() - began) }, 'could not resume on RabbitMQ yet; trying again');
        // Ready may have been published just before the connection went: not ready again first.
        await connection?.close().catch(() => undefined);
        await sleep(RETRY_PAUSE_MS);
        await this.step(() => this.steps.markNotReady());
      }
    }
  }

  private step<T>(run: () => Promise<T>): Promise<T> {
    if (this.abandoned) return Promise.reject(new RideShareError('UNAVAILABLE', 'the reconnection was given up'));
    return run();
  }

  /** `run` on `connection`, failed as soon as the connection closes (a step may otherwise wait for its own timeout). */
  private whileOpen<T>(connection: ChannelModel, run: () => Promise<T>): Promise<T> {
    let onClose: (() => void) | undefined;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(new RideShareError('UNAVAILABLE', 'the new RabbitMQ connection closed too'));
      connection.once('close', onClose);
    });
    return Promise.race([this.step(run), closed]).finally(() => {
      if (onClose) connection.off('close', onClose);
    });
  }
}
