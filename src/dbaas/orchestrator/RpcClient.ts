/**
 * Request/response over RabbitMQ with direct reply-to: publish on readQ or writeQ, match the
 * answer by correlation id. Every call has a deadline (a 503, never a hang); messages expire in
 * the queue at the same deadline, so a worker never spends time on a request nobody awaits.
 * A lost connection fails the calls in flight and is re-opened in the background.
 */
import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { RideShareError, TimeoutError, UnavailableError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { sleep, withTimeout } from '../../shared/timeout.ts';
import { decodeReply, encode, type DbCommand } from '../protocol/messages.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { connectAmqp } from '../transport/amqp.ts';
import type { MessageSigner } from '../transport/signing.ts';
import { assertTopology } from '../transport/topology.ts';

const REPLY_TO = 'amq.rabbitmq.reply-to';
/** The clock difference between an orchestrator and a master that write deadlines tolerate. */
const CLOCK_MARGIN_MS = 250;

interface PendingCall {
  resolve(result: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** `refused`: the worker answered with an error (a constraint, a bad query); `error`: anything else. */
export type RpcOutcome = 'ok' | 'refused' | 'timeout' | 'unavailable' | 'error';

export interface RpcClientOptions {
  amqpUrl: string;
  names: ClusterNames;
  timeoutMs: number;
  /** Signs every command: workers act on signed commands only. */
  signer: MessageSigner;
  /** Told of every call's duration and outcome (the metrics). */
  observe?: (kind: DbCommand['kind'], seconds: number, outcome: RpcOutcome) => void;
  logger: Logger;
}

export class RpcClient {
  private connection: ChannelModel | undefined;
  private channel: Channel | undefined;
  private connecting: Promise<Channel> | undefined;
  private readonly pending = new Map<string, PendingCall>();
  private closed = false;

  constructor(private readonly options: RpcClientOptions) {}

  async start(): Promise<void> {
    await this.ensureChannel();
  }

  /** True while a channel to the broker is open (readiness). */
  get connected(): boolean {
    return this.channel !== undefined;
  }

  /** Calls waiting for a worker's answer right now. */
  get inFlight(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new UnavailableError('the orchestrator is stopping'));
    await this.connection?.close().catch(() => undefined);
  }

  /**
   * The absolute deadline to give a write sent now: a little before this client gives up, so a
   * master whose clock is up to CLOCK_MARGIN_MS behind ours still never applies a write after its
   * caller was answered 503.
   */
  writeDeadline(): number {
    return Date.now() + this.options.timeoutMs - Math.min(CLOCK_MARGIN_MS, Math.floor(this.options.timeoutMs / 4));
  }

  /** Sends a command and resolves with the worker's result, or rejects with its coded error. */
  async call<T>(queue: string, command: DbCommand): Promise<T> {
    const observe = this.options.observe;
    if (!observe) return this.send<T>(queue, command);
    const started = performance.now();
    try {
      const result = await this.send<T>(queue, command);
      observe(command.kind, (performance.now() - started) / 1000, 'ok');
      return result;
    } catch (error) {
      observe(command.kind, (performance.now() - started) / 1000, outcomeOf(error));
      throw error;
    }
  }

  /** Messages waiting in a queue of the cluster (readQ, writeQ), as the broker counts them. */
  async queueDepth(queue: string): Promise<number | undefined> {
    const channel = this.channel;
    if (!channel) return undefined;
    // checkQueue on a missing queue would close the shared channel; these queues always exist.
    const { messageCount } = await channel.checkQueue(queue);
    return messageCount;
  }

  private async send<T>(queue: string, command: DbCommand): Promise<T> {
    const deadline = this.options.timeoutMs;
    // A broker that is down or restarting is a 503, whatever amqplib throws.
    const channel = await withTimeout(this.ensureChannel(), deadline, 'RabbitMQ is unreachable').catch((error: unknown) => {
      throw asUnavailable(error, 'RabbitMQ is unreachable');
    });
    const correlationId = randomUUID();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new TimeoutError(`no worker answered on ${queue} within ${deadline} ms`));
      }, deadline);
      this.pending.set(correlationId, { resolve: resolve as (result: unknown) => void, reject, timer });
      try {
        const content = encode(command);
        channel.sendToQueue(queue, content, {
          headers: this.options.signer.headers(content),
          correlationId,
          replyTo: REPLY_TO,
          expiration: String(deadline),
          contentType: 'application/json',
        });
      } catch (error) {
        // The channel closed under us: nothing was sent.
        clearTimeout(timer);
        this.pending.delete(correlationId);
        reject(asUnavailable(error, 'the connection to RabbitMQ was lost'));
      }
    });
  }

  private onReply(message: ConsumeMessage | null): void {
    if (!message) return;
    const call = this.pending.get(message.properties.correlationId as string);
    if (!call) return; // answered after its deadline
    this.pending.delete(message.properties.correlationId as string);
    clearTimeout(call.timer);
    try {
      const reply = decodeReply(message.content);
      if (reply.ok) call.resolve(reply.result);
      else call.reject(new RideShareError(reply.code, reply.message));
    } catch (error) {
      call.reject(new RideShareError('INTERNAL', `unreadable worker reply: ${String(error)}`));
    }
  }

  private ensureChannel(): Promise<Channel> {
    if (this.channel) return Promise.resolve(this.channel);
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<Channel> {
    if (this.closed) throw new UnavailableError('the orchestrator is stopping');
    const connection = await connectAmqp(this.options.amqpUrl);
    connection.on('error', (error: unknown) => this.options.logger.warn({ err: error }, 'RabbitMQ connection error'));
    connection.on('close', () => this.onConnectionLost());
    const channel = await connection.createChannel();
    await assertTopology(channel, this.options.names);
    await channel.consume(REPLY_TO, (message) => this.onReply(message), { noAck: true });
    this.connection = connection;
    this.channel = channel;
    return channel;
  }

  private onConnectionLost(): void {
    this.channel = undefined;
    this.connection = undefined;
    // Replies travel on the lost connection: whatever was in flight can no longer be answered.
    this.failAll(new UnavailableError('the connection to RabbitMQ was lost'));
    if (this.closed) return;
    this.options.logger.warn('RabbitMQ connection lost; reconnecting');
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    for (let delay = 100; !this.closed && !this.channel; delay = Math.min(delay * 2, 2000)) {
      try {
        await this.ensureChannel();
      } catch {
        await sleep(delay);
      }
    }
  }

  private failAll(error: Error): void {
    for (const [id, call] of this.pending) {
      clearTimeout(call.timer);
      call.reject(error);
      this.pending.delete(id);
    }
  }
}

function outcomeOf(error: unknown): RpcOutcome {
  if (error instanceof TimeoutError) return 'timeout';
  if (error instanceof UnavailableError) return 'unavailable';
  return error instanceof RideShareError ? 'refused' : 'error';
}

function asUnavailable(error: unknown, what: string): RideShareError {
  if (error instanceof RideShareError) return error;
  return new UnavailableError(`${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
