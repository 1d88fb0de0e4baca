/**
 * A slave's way home to its own host's RabbitMQ node (the first of AMQP_URL: across hosts its own
 * host's, then the database host's, src/system/RideShareSystem.ts). A slave whose own node was
 * down connected, or resumed the sync log, through another node; left there, it depends on a
 * second host, and the loss of that host (the database host, where the master runs at first)
 * takes it out of the ready slaves just when a failover needs one. So while it serves through
 * another node it asks its own, on a bounded interval, for a connection; the first one it gets is
 * handed over, and the worker moves there the way it resumes after a lost connection.
 *
 * A probe is a real AMQP connection (a node that accepts TCP may still be booting), each bounded
 * by the connect timeout (src/dbaas/transport/amqp.ts); one at a time.
 */
import type { ChannelModel } from 'amqplib';
import type { Logger } from '../../shared/logger.ts';
import { redactUrl } from '../../shared/redact.ts';
import { connectAmqp } from '../transport/amqp.ts';

/**
 * Between two probes. Its own node restarted by the host's npm start is back within seconds; a
 * probe that is refused costs a loopback round trip, so a short interval keeps the time spent on
 * the other host's node short without weighing on anything.
 */
export const HOME_PROBE_MS = 1000;

export class HomeNodeProbe {
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private stopped = false;

  /**
   * `wanted`: asked before each probe and once one connects (the slave may have been promoted, be
   * stopping, or not know its offset yet); `moveTo`: takes the connection to the own node, and
   * says whether it did (the probe then ends; else the connection is closed and probing goes on).
   */
  constructor(
    private readonly home: string,
    private readonly wanted: () => boolean,
    private readonly moveTo: (connection: ChannelModel) => boolean,
    private readonly logger: Logger,
    private readonly intervalMs = HOME_PROBE_MS,
  ) {}

  start(): void {
    this.logger.info({ node: redactUrl(this.home), everyMs: this.intervalMs }, 'serving through another RabbitMQ node than this host\u2019s own; moving back once it answers');
    this.timer = setInterval(() => void this.probe(), this.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private async probe(): Promise<void> {
    if (this.probing || this.stopped) return;
    if (!this.wanted()) return;
    this.probing = true;
    let connection: ChannelModel;
    try {
      connection = await connectAmqp(this.home);
    } catch {
      return;
    } finally {
      this.probing = false;
    }
    if (this.stopped || !this.wanted()) {
      await connection.close().catch(() => undefined);
      return;
    }
    if (this.moveTo(connection)) {
      this.stop();
      return;
    }
    await connection.close().catch(() => undefined);
  }
}
