/**
 * Request/response over RabbitMQ: publish on readQ or writeQ with this connection's own exclusive
 * reply queue as the reply-to, match the answer by correlation id. The calls made during one turn
 * of the event loop for the same queue leave together as one batch message (a lone call leaves
 * alone, without waiting), so a busy orchestrator pays the broker and the worker once per batch,
 * not once per call. Every call has a deadline (a 503, never a hang); messages expire in the queue
 * at the same deadline, and the signed deadline makes a worker refuse one taken later, so no
 * worker spends time on a request nobody awaits. A write is answered 503 only once its deadline
 * has passed, whatever ended the wait (see rejectOnceInapplicable). A reply is taken only when a
 * worker of the cluster signed it, in a role that may answer that queue, to this connection's own
 * reply queue and a question still in flight. A lost connection fails the calls in flight and is
 * re-opened in the background. A read not answered within `readHedgeMs` is sent once more (a
 * hedge): a replica lost with reads in hand holds them until the broker notices it is gone, which
 * is its heartbeat, longer than a read's deadline; whichever copy is answered first settles it.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { RideShareError, TimeoutError, UnavailableError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { sleep, withTimeout } from '../../shared/timeout.ts';
import { encode, MAX_BATCH, PROTOCOL_VERSION, type DbCommand, type SingleCommand } from '../protocol/messages.ts';
import { decodeBatchReply, decodeReply, withResult, type Reply } from '../protocol/reply.ts';
import type { ResultDecoder } from '../protocol/results.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { connectAmqp } from '../transport/amqp.ts';
import { Inbox } from '../transport/Inbox.ts';
import { logRefusals, RefusedMessages, type Refusals } from '../transport/RefusedMessages.ts';
import type { MessageSigner, SenderRole } from '../transport/signing.ts';
import type { Clock } from '../coordination/ClusterClock.ts';
import { assertTopology } from '../transport/topology.ts';

/**
 * The difference between an orchestrator's and a master's reading of the cluster's clock that
 * write deadlines tolerate: each reads it to within half a ZooKeeper round trip (ClusterClock.ts).
 */
const CLOCK_MARGIN_MS = 250;
/** How often a write waiting to be failed looks at the clock again (it may have been stepped). */
const MAX_RECHECK_MS = 1000;

interface Call {
  command: SingleCommand;
  /** Checks the worker's result: what the caller awaits has the command's result's shape. */
  decode: ResultDecoder<unknown>;
  resolve(result: unknown): void;
  reject(error: Error): void;
}

/** A message sent and not yet answered: one call, or a batch's calls in order. */
interface InFlight {
  calls: Call[];
  batched: boolean;
  /** The correlation ids of its copies: the message itself, and its hedge once sent. */
  ids: string[];
  timer: NodeJS.Timeout;
  hedge?: NodeJS.Timeout;
  /** Who may answer: a slave or the master on readQ, the master only on writeQ. */
  answerers: readonly SenderRole[];
}

/** `refused`: the worker answered with an error (a constraint, a bad query); `error`: anything else. */
export type RpcOutcome = 'ok' | 'refused' | 'timeout' | 'unavailable' | 'error';

export interface RpcClientOptions {
  amqpUrl: string;
  names: ClusterNames;
  timeoutMs: number;
  /** Sends a read no one answered within this long once more (absent: never). */
  readHedgeMs?: number;
  /** Signs every command (workers act on signed commands only) and checks every reply. */
  signer: MessageSigner;
  /** Told of every call's duration and outcome (the metrics). */
  observe?: (kind: DbCommand['kind'], seconds: number, outcome: RpcOutcome) => void;
  logger: Logger;
}

export class RpcClient {
  private connection: ChannelModel | undefined;
  private channel: Channel | undefined;
  /** This connection's own exclusive reply queue: its name is signed into every command. */
  private replyQueue = '';
  private connecting: Promise<Channel> | undefined;
  private readonly pending = new Map<string, InFlight>();
  /** Calls made during this turn of the event loop, by queue, leaving together when it ends. */
  private readonly outbox = new Map<string, Call[]>();
  private flushScheduled = false;
  private messagesSent = 0;
  private closed = false;

  /** The replies' door (src/dbaas/transport/Inbox.ts): a worker's answer to a question in flight. */
  private readonly replies: Inbox<Reply<unknown>[]>;
  private refused: Refusals;

  constructor(private readonly options: RpcClientOptions) {
    this.refused = logRefusals(options.logger);
    this.replies = new Inbox<Reply<unknown>[]>({
      from: 'reply',
      what: 'worker reply',
      signer: options.signer,
      senders: ['master', 'slave'],
      refused: { keep: (...args) => this.refused.keep(...args) },
      check: (envelope) => {
        const sent = this.pending.get(envelope.correlationId ?? '');
        if (envelope.to !== this.replyQueue) return `addressed to ${envelope.to}, not to this orchestrator's ${this.replyQueue}`;
        if (sent && !sent.answerers.includes(envelope.sender.role)) return `a ${envelope.sender.role} may not answer that queue`;
        return undefined;
      },
      decode: (message, envelope) => {
        const sent = this.pending.get(envelope.correlationId ?? '') as InFlight;
        // Each result checked here: a reply of the wrong shape is refused (and kept) as a malformed one.
        const replies = sent.batched ? decodeBatchReply(message.content, sent.calls.length) : [decodeReply(message.content)];
        return replies.map((reply, index) => withResult(reply, (sent.calls[index] as Call).decode));
      },
      answerMalformed: (_message, envelope, error) => {
        const sent = this.pending.get(envelope.correlationId ?? '');
        if (!sent) return;
        this.settle(sent);
        for (const call of sent.calls) call.reject(new RideShareError('INTERNAL', `unreadable worker reply: ${String(error)}`));
      },
    });
  }

  async start(): Promise<void> {
    await this.ensureChannel();
  }

  /** True while a channel to the broker is open (readiness). */
  get connected(): boolean {
    return this.channel !== undefined;
  }

  /** Calls waiting for a worker's answer right now. */
  get inFlight(): number {
    let calls = 0;
    for (const message of new Set(this.pending.values())) calls += message.calls.length;
    for (const queued of this.outbox.values()) calls += queued.length;
    return calls;
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
  writeDeadline(budgetMs = Number.POSITIVE_INFINITY): number {
    const waited = Math.min(this.options.timeoutMs, budgetMs);
    return this.options.signer.clock.now() + waited - Math.min(CLOCK_MARGIN_MS, Math.floor(waited / 4));
  }

  /**
   * Sends a command and resolves with the worker's result as `decode` checked it (results.ts),
   * or rejects with its coded error; a result `decode` refuses is an INTERNAL error.
   */
  async call<T>(queue: string, command: SingleCommand, decode: ResultDecoder<T>): Promise<T> {
    const observe = this.options.observe;
    if (!observe) return this.send(queue, command, decode);
    const started = performance.now();
    try {
      const result = await this.send(queue, command, decode);
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

  private send<T>(queue: string, command: SingleCommand, decode: ResultDecoder<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const queued = this.outbox.get(queue);
      // The result reaches resolve only through decode (in the replies' door), so it is a T.
      const call: Call = { command, decode, resolve: resolve as (result: unknown) => void, reject };
      if (queued) queued.push(call);
      else this.outbox.set(queue, [call]);
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [queue, calls] of this.outbox) {
      for (let start = 0; start < calls.length; start += MAX_BATCH) void this.publish(queue, calls.slice(start, start + MAX_BATCH));
    }
    this.outbox.clear();
  }

  private async publish(queue: string, calls: Call[]): Promise<void> {
    const deadline = this.options.timeoutMs;
    let channel: Channel;
    try {
      // A broker that is down or restarting is a 503, whatever amqplib throws; UNAVAILABLE, not
      // TIMEOUT: nothing was sent, so a client may go to another orchestrator at once.
      channel = this.channel ?? (await withTimeout(this.ensureChannel(), deadline, 'UNAVAILABLE', 'RabbitMQ is unreachable'));
    } catch (error) {
      for (const call of calls) call.reject(asUnavailable(error, 'RabbitMQ is unreachable'));
      return;
    }
    const batched = calls.length > 1;
    const expiresAt = this.options.signer.expiresIn(deadline);
    const timer = setTimeout(() => {
      this.settle(sent);
      for (const call of calls) rejectOnceInapplicable(call, new TimeoutError(`no worker answered on ${queue} within ${deadline} ms`), this.options.signer.clock);
    }, deadline);
    const sent: InFlight = { calls, batched, ids: [], timer, answerers: queue === this.options.names.writeQ ? ['master'] : ['slave', 'master'] };
    let content: Buffer;
    try {
      const command: DbCommand = batched ? { v: PROTOCOL_VERSION, kind: 'batch', commands: calls.map((call) => call.command) } : (calls[0] as Call).command;
      content = encode(command);
      this.sendCopy(channel, queue, content, sent, expiresAt);
    } catch (error) {
      // The channel closed under us: nothing was sent.
      this.settle(sent);
      for (const call of calls) call.reject(asUnavailable(error, 'the connection to RabbitMQ was lost'));
      return;
    }
    // Reads only: a write sent twice would be taken twice (each copy is applied once by its request
    // id, but the second may wait behind the first, and writes already go to the one master).
    const hedgeMs = this.options.readHedgeMs;
    if (queue !== this.options.names.readQ || !hedgeMs || hedgeMs >= deadline) return;
    sent.hedge = setTimeout(() => {
      if (this.channel !== channel || !this.pending.has(sent.ids[0] as string)) return;
      try {
        this.sendCopy(channel, queue, content, sent, expiresAt);
      } catch {
        // The channel closed: the connection's loss fails the calls (onConnectionLost).
      }
    }, hedgeMs);
  }

  /** Publishes one copy of a message, under a correlation id of its own that leads to `sent`. */
  private sendCopy(channel: Channel, queue: string, content: Buffer, sent: InFlight, expiresAt: number): void {
    this.messagesSent += 1;
    const correlationId = String(this.messagesSent);
    const left = Math.max(1, expiresAt - this.options.signer.clock.now());
    const signed = this.options.signer.seal({ to: queue, replyTo: this.replyQueue, correlationId, expiresAt }, content);
    sent.ids.push(correlationId);
    this.pending.set(correlationId, sent);
    channel.sendToQueue(queue, content, { ...signed, expiration: String(left), contentType: 'application/json' });
  }

  /** The message is answered or given up: no copy of it is awaited any more. */
  private settle(sent: InFlight): void {
    clearTimeout(sent.timer);
    clearTimeout(sent.hedge);
    for (const id of sent.ids) this.pending.delete(id);
  }

  private onReply(message: ConsumeMessage | null): void {
    if (!message) return;
    const correlationId = message.properties.correlationId as string;
    const sent = this.pending.get(correlationId);
    if (!sent) return; // answered after its deadline, or a question of nobody's
    const replies = this.replies.take(message)?.value;
    // A refused reply leaves the question waiting: the real one may still come, or its deadline.
    if (!replies) return;
    this.settle(sent);
    sent.calls.forEach((call, index) => {
      const reply = replies[index] as Reply<unknown>;
      if (reply.ok) call.resolve(reply.result);
      else call.reject(new RideShareError(reply.code, reply.message));
    });
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
    const topology = await assertTopology(connection, this.options.names);
    if (topology.declaredOtherwise.length > 0) this.options.logger.warn({ queues: topology.declaredOtherwise }, 'queues of an older declaration, used as they are until the supervisor converts them');
    const channel = await connection.createChannel();
    // A named queue, not direct reply-to: its name is known before sending, so it is signed.
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    this.replyQueue = queue;
    await channel.consume(queue, (message) => this.onReply(message), { noAck: true });
    this.refused = new RefusedMessages(await connection.createChannel(), this.options.names.refusedQ, this.options.signer.sender.id, this.options.logger);
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

  /** Everything in flight is lost with the connection; a write is answered once it can no longer be applied. */
  private failAll(error: Error): void {
    for (const sent of new Set(this.pending.values())) {
      this.settle(sent);
      for (const call of sent.calls) rejectOnceInapplicable(call, error, this.options.signer.clock);
    }
  }
}

/**
 * A 503 for a write promises that it can no longer be applied (docs/guarantees.md): its message
 * may still sit in writeQ after a lost connection, and the master applies it until its deadline
 * by its reading of the cluster's clock. So a write is failed only once this process's reading is
 * past its deadline by the margin the two readings may differ; checked again when the timer
 * fires, since the cluster's clock may have been stepped back meanwhile (its ZooKeeper leader's).
 * A read is failed at once: it changes nothing.
 */
function rejectOnceInapplicable(call: Call, error: Error, clock: Clock): void {
  const wait = call.command.kind === 'write' ? call.command.deadline + CLOCK_MARGIN_MS - clock.now() : 0;
  if (wait <= 0) call.reject(error);
  else setTimeout(() => rejectOnceInapplicable(call, error, clock), Math.min(wait, MAX_RECHECK_MS));
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
