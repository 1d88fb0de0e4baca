/**
 * The serving side of snapshot transfers. Caught-up slaves consume snapshotQ with a higher
 * consumer priority than the master, so the master is spared whenever a slave can answer. With
 * prefetch 1 and the request acknowledged only when its transfer is over, a server sends one
 * snapshot at a time and further requests go to the others; if a server dies mid-transfer, the
 * broker hands its request to another one, which tells the requester so.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../../shared/logger.ts';
import type { ClusterNames } from '../protocol/names.ts';
import type { MessageSigner } from '../transport/signing.ts';
import type { SnapshotSource } from './ReplicaStore.ts';
import { copySnapshot } from './snapshot-copy.ts';
import { DEFAULT_SNAPSHOT_TEMP_DIR, snapshotTempFile, sweepStaleSnapshotFiles } from './snapshot-temp-files.ts';
import { Inbox } from '../transport/Inbox.ts';
import { logRefusals, type Refusals } from '../transport/RefusedMessages.ts';
import {
  decodeRequest,
  decodeRequesterSignal,
  encodeServerSignal,
  LISTENING,
  SIGNAL_LIFETIME_MS,
  SNAPSHOT_DEFAULTS,
  type RequesterSignal,
  type ServerSignal,
  type SnapshotRequest,
  type TransferTuning,
} from './snapshot-protocol.ts';
import { RideShareError, TimeoutError, UnavailableError } from '../../shared/errors.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

export const SNAPSHOT_PRIORITY = { slave: 10, master: 0 } as const;

/** Resolves true once the store has applied `seq`, false if that takes longer than `timeoutMs`. */
export type WaitForSeq = (seq: number, timeoutMs: number) => Promise<boolean>;

/** How long a server that answered "behind" stays off snapshotQ unless it catches up sooner. */
const BEHIND_PAUSE_MS = 10_000;

export interface SnapshotServerOptions extends Partial<TransferTuning> {
  channel: Channel;
  names: ClusterNames;
  /** A function: a replica's store may be replaced. */
  store: () => SnapshotSource;
  priority: number;
  /** Checks requests and acknowledgements, and signs, as this worker's role, every signal and chunk. */
  signer: MessageSigner;
  /** Where requests refused unexecuted are kept (none: only logged). */
  refused?: Refusals;
  /** A slave waits on its sync stream; without it the store's current seq is the answer (the master). */
  waitForSeq?: WaitForSeq;
  /**
   * The master: resolves true once the broker has confirmed every write up to `seq`. A copy can
   * hold writes the master committed but has not yet seen confirmed; if the master died then,
   * those writes would exist on the new replica and nowhere else. Without it, a copy is sent as is.
   */
  confirmedThrough?: WaitForSeq;
  logger?: Logger;
  tempDir?: string;
}

/** A WaitForSeq over anything that emits 'applied' with the highest seq it has applied (a SyncFollower). */
export function appliedSeqWaiter(
  events: { on(event: 'applied', listener: (seq: number) => void): unknown; off(event: 'applied', listener: (seq: number) => void): unknown },
  appliedSeq: () => number,
): WaitForSeq {
  return (seq, timeoutMs) =>
    new Promise<boolean>((resolve) => {
      if (appliedSeq() >= seq) return resolve(true);
      const done = (reached: boolean) => {
        clearTimeout(timer);
        events.off('applied', onApplied);
        resolve(reached);
      };
      const onApplied = (applied: number) => applied >= seq && done(true);
      const timer = setTimeout(() => done(appliedSeq() >= seq), timeoutMs);
      events.on('applied', onApplied);
    });
}

export async function serveSnapshots(options: SnapshotServerOptions): Promise<SnapshotServer> {
  const server = new SnapshotServer(options);
  await server.start();
  return server;
}

export class SnapshotServer {
  private readonly tuning: TransferTuning;
  private readonly tempDir: string;
  /** snapshotQ's door (src/dbaas/transport/Inbox.ts): a copy of the database goes to the cluster only. */
  private readonly requests: Inbox<SnapshotRequest>;
  /** The acknowledgements' door: a requester's, for its own transfer, to this server's queue. */
  private readonly signals: Inbox<RequesterSignal>;
  /** This server's own exclusive queue, where requesters send acknowledgements; signed into every signal. */
  private ackQueue = '';
  private readonly transfers = new Map<string, OutgoingTransfer>();
  private consumerTag: string | undefined;
  private consuming = false;
  private paused = false;
  private stopped = false;

  constructor(private readonly options: SnapshotServerOptions) {
    this.tuning = { ...SNAPSHOT_DEFAULTS, ...definedOnly(options) };
    this.tempDir = options.tempDir ?? DEFAULT_SNAPSHOT_TEMP_DIR;
    const refused = options.refused ?? logRefusals(options.logger);
    this.requests = new Inbox<SnapshotRequest>({
      from: 'snapshotQ',
      what: 'snapshot request',
      signer: options.signer,
      // A joining replica, or an orchestrator taking a backup; the copy goes only to the signed reply-to.
      senders: ['replica', 'orchestrator'],
      refused,
      check: (envelope) => (envelope.replyTo === undefined ? 'no reply-to' : undefined),
      decode: (message, envelope) => {
        const request = decodeRequest(message.content);
        if (request.transferId !== envelope.correlationId) throw new RideShareError('MALFORMED_MESSAGE', 'the transfer id is not the signed correlation id');
        return request;
      },
      settle: (message) => this.settle(message),
    });
    this.signals = new Inbox<RequesterSignal>({
      from: 'snapshot-ack',
      what: 'snapshot acknowledgement',
      signer: options.signer,
      senders: ['replica', 'orchestrator'],
      refused,
      check: (envelope) => {
        const transfer = this.transfers.get(envelope.correlationId ?? '');
        if (envelope.to !== this.ackQueue) return `addressed to ${envelope.to}`;
        if (transfer && transfer.requester !== envelope.replyTo) return 'not from the requester of that transfer';
        return undefined;
      },
      decode: (message, envelope) => {
        const signal = decodeRequesterSignal(message.content);
        if (signal.transferId !== envelope.correlationId) throw new RideShareError('MALFORMED_MESSAGE', 'the transfer id is not the signed correlation id');
        return signal;
      },
    });
  }

  async start(): Promise<void> {
    const { channel } = this.options;
    fs.mkdirSync(this.tempDir, { recursive: true });
    const swept = sweepStaleSnapshotFiles(this.tempDir);
    if (swept > 0) this.options.logger?.info({ swept }, 'removed snapshot copies left by dead servers');
    await channel.prefetch(1);
    // A named queue rather than direct reply-to: its name is signed into every signal we send.
    this.ackQueue = (await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false })).queue;
    await channel.consume(this.ackQueue, (message) => message && this.onSignal(message), { noAck: true });
    await this.consume();
  }

  /** Stops taking requests; transfers under way finish (or fail with the channel). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.cancel();
  }

  /** Transfers under way, by transfer id. */
  get activeTransfers(): number {
    return this.transfers.size;
  }

  private async consume(): Promise<void> {
    const { channel, names, priority } = this.options;
    const { consumerTag } = await channel.consume(names.snapshotQ, (message) => message && void this.onRequest(message), {
      noAck: false,
      priority,
      ...(this.consumerTag ? { consumerTag: this.consumerTag } : {}),
    });
    this.consumerTag = consumerTag;
    this.consuming = true;
  }

  private async cancel(): Promise<void> {
    if (!this.consuming || !this.consumerTag) return;
    this.consuming = false;
    await this.options.channel.cancel(this.consumerTag).catch(() => undefined);
  }

  private async onRequest(message: ConsumeMessage): Promise<void> {
    const taken = this.requests.take(message);
    if (!taken) return;
    const request = taken.value;
    const replyTo = taken.envelope.replyTo as string;
    if (this.transfers.has(request.transferId)) {
      this.settle(message);
      return;
    }
    const transfer = new OutgoingTransfer(this.options, this.tuning, this.tempDir, request, replyTo, this.ackQueue, message.fields.redelivered);
    this.transfers.set(request.transferId, transfer);
    try {
      const outcome = await transfer.run();
      if (outcome === 'behind') void this.pauseUntil(request.minSeq);
    } finally {
      this.transfers.delete(request.transferId);
      this.settle(message);
    }
  }

  private onSignal(message: ConsumeMessage): void {
    const signal = this.signals.take(message)?.value;
    if (!signal) return;
    this.transfers.get(signal.transferId)?.onSignal(signal.type === 'ack' ? { ack: signal.index } : { abort: signal.reason });
  }

  /**
   * A server behind the request's minSeq stays off snapshotQ until it catches up, so the retried
   * request reaches another slave or the master instead of coming back to it (it has the highest
   * priority with room).
   */
  private async pauseUntil(minSeq: number): Promise<void> {
    if (this.paused || this.stopped) return;
    this.paused = true;
    try {
      await this.cancel();
      await this.waitForSeq(minSeq, BEHIND_PAUSE_MS);
      if (!this.stopped) await this.consume();
    } catch (error) {
      this.options.logger?.error({ err: error }, 'could not resume serving snapshots');
    } finally {
      this.paused = false;
    }
  }

  private waitForSeq(seq: number, timeoutMs: number): Promise<boolean> {
    const { waitForSeq, store } = this.options;
    return waitForSeq ? waitForSeq(seq, timeoutMs) : Promise.resolve(store().appliedSeq >= seq);
  }

  /** Acknowledges a request; a closed channel has requeued it already. */
  private settle(message: ConsumeMessage): void {
    try {
      this.options.channel.ack(message);
    } catch {
      // The channel is gone, and the broker gave the request to someone else.
    }
  }
}

type Outcome = 'sent' | 'behind' | 'failed';

/** One snapshot sent to one requester: wait for minSeq, copy, stream with a window, clean up. */
class OutgoingTransfer {
  private readonly abort = new AbortController();
  private acked = LISTENING - 1;
  private ackWaiter: (() => void) | undefined;

  constructor(
    private readonly options: SnapshotServerOptions,
    private readonly tuning: TransferTuning,
    private readonly tempDir: string,
    private readonly request: SnapshotRequest,
    /** The requester's queue, as its signed request named it: the only place a copy goes. */
    readonly requester: string,
    private readonly ackQueue: string,
    private readonly redelivered: boolean,
  ) {}

  onSignal(signal: { ack: number } | { abort: string }): void {
    if ('abort' in signal) {
      this.abort.abort(new UnavailableError(`the requester aborted: ${signal.abort}`));
    } else {
      this.acked = Math.max(this.acked, signal.ack);
    }
    this.ackWaiter?.();
  }

  async run(): Promise<Outcome> {
    const { logger, store } = this.options;
    const log = logger?.child({ transferId: this.request.transferId, minSeq: this.request.minSeq });
    const file = snapshotTempFile(this.tempDir, this.request.transferId);
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      await this.send({ type: 'accepted', redelivered: this.redelivered });
      heartbeat = setInterval(() => void this.send({ type: 'preparing' }).catch(() => undefined), this.tuning.heartbeatMs);
      if (!(await this.reachMinSeq())) {
        await this.send({ type: 'behind', appliedSeq: store().appliedSeq });
        log?.info({ appliedSeq: store().appliedSeq }, 'behind the requested seq; not sending a snapshot');
        return 'behind';
      }
      await this.acknowledged(LISTENING);
      const started = monotonicNow();
      const position = await copySnapshot(store().file, file, this.abort.signal);
      await this.confirmed(position.appliedSeq);
      clearInterval(heartbeat);
      const { size, chunks } = await this.stream(file, position);
      log?.info({ ...position, size, chunks, ms: monotonicNow() - started }, 'snapshot sent');
      return 'sent';
    } catch (error) {
      // biome-ignore lint/nursery/noBaseToString: a caught value is unknown; String() is the deliberate text for a non-Error throw
      if (!this.abort.signal.aborted) await this.send({ type: 'failed', reason: String(error) }).catch(() => undefined);
      log?.warn({ err: error }, 'snapshot transfer failed');
      return 'failed';
    } finally {
      clearInterval(heartbeat);
      this.abort.abort(new UnavailableError('transfer over'));
      fs.rmSync(file, { force: true });
      fs.rmSync(`${file}-journal`, { force: true });
    }
  }

  private async reachMinSeq(): Promise<boolean> {
    const { store, waitForSeq } = this.options;
    if (store().appliedSeq >= this.request.minSeq) return true;
    if (!waitForSeq) return false;
    return this.abortable(waitForSeq(this.request.minSeq, this.tuning.minSeqWaitMs));
  }

  private async confirmed(seq: number): Promise<void> {
    const { confirmedThrough } = this.options;
    if (!confirmedThrough) return;
    if (!(await this.abortable(confirmedThrough(seq, this.tuning.chunkTimeoutMs)))) {
      throw new TimeoutError(`the writes up to seq ${seq} were not confirmed within ${this.tuning.chunkTimeoutMs} ms`);
    }
  }

  /** Reads the copy in chunks, hashing as it goes, with at most `window` chunks unacknowledged. */
  private async stream(file: string, position: { appliedSeq: number; epoch: number }): Promise<{ size: number; chunks: number }> {
    const { chunkBytes, window } = this.tuning;
    const handle = await fs.promises.open(file, 'r');
    try {
      const { size } = await handle.stat();
      const chunks = Math.ceil(size / chunkBytes);
      await this.send({ type: 'begin', ...position, size, chunkBytes, chunks });
      const hash = createHash('sha256');
      for (let index = 0; index < chunks; index += 1) {
        await this.acknowledged(index - window);
        const offset = index * chunkBytes;
        const bytes = await readFully(handle, offset, Math.min(chunkBytes, size - offset));
        hash.update(bytes);
        await this.send({ type: 'chunk', index, offset }, bytes);
      }
      await this.send({ type: 'end', size, sha256: hash.digest('hex') });
      await this.acknowledged(chunks);
      return { size, chunks };
    } finally {
      await handle.close();
    }
  }

  /** Waits until the requester has acknowledged `index`; silence for chunkTimeoutMs ends the transfer. */
  private async acknowledged(index: number): Promise<void> {
    while (this.acked < index) {
      await this.abortable(
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.ackWaiter = undefined;
            reject(new TimeoutError(`no acknowledgement of chunk ${index} within ${this.tuning.chunkTimeoutMs} ms`));
          }, this.tuning.chunkTimeoutMs);
          this.ackWaiter = () => {
            this.ackWaiter = undefined;
            clearTimeout(timer);
            resolve();
          };
        }),
      );
    }
  }

  private async send(signal: ServerSignal, body: Buffer = EMPTY): Promise<void> {
    if (this.abort.signal.aborted) throw this.abort.signal.reason as Error;
    const { channel, signer } = this.options;
    const signed = signer.seal(
      { to: this.requester, replyTo: this.ackQueue, correlationId: this.request.transferId, expiresAt: signer.expiresIn(SIGNAL_LIFETIME_MS), meta: encodeServerSignal(signal) },
      body,
    );
    const written = channel.sendToQueue(this.requester, body, signed);
    // The channel's buffer is full: wait for the socket rather than pile chunks up in memory.
    if (!written) await this.abortable(drained(channel, this.tuning.chunkTimeoutMs));
  }

  private abortable<T>(promise: Promise<T>): Promise<T> {
    const signal = this.abort.signal;
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error instanceof Error ? error : new RideShareError('INTERNAL', String(error)));
        },
      );
    });
  }
}

const EMPTY = Buffer.alloc(0);

function drained(channel: Channel, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const finish = (error?: Error) => {
      clearTimeout(timer);
      channel.off('drain', onDrain);
      channel.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => finish();
    const onClose = () => finish(new UnavailableError('the snapshot channel closed'));
    const timer = setTimeout(() => finish(new TimeoutError(`the snapshot channel did not drain within ${timeoutMs} ms`)), timeoutMs);
    channel.on('drain', onDrain);
    channel.on('close', onClose);
  });
}

async function readFully(handle: fs.promises.FileHandle, offset: number, length: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(bytes, filled, length - filled, offset + filled);
    if (bytesRead === 0) throw new RideShareError('INTEGRITY', `the snapshot copy ended at ${offset + filled} bytes, expected ${offset + length}`);
    filled += bytesRead;
  }
  return bytes;
}

function definedOnly(options: Partial<TransferTuning>): Partial<TransferTuning> {
  const tuning: Partial<TransferTuning> = {};
  for (const key of Object.keys(SNAPSHOT_DEFAULTS) as (keyof TransferTuning)[]) {
    const value = options[key];
    if (value !== undefined) tuning[key] = value;
  }
  return tuning;
}
