/**
 * Snapshots travel over RabbitMQ in chunks (the protocol is in snapshot-protocol.ts, the serving
 * side in SnapshotServer.ts). This is the requesting side: a joining replica asks on snapshotQ for
 * a copy that contains at least `minSeq`, writes each chunk straight into its database file as it
 * arrives (never the whole database in memory), verifies the SHA-256 of the whole file, and
 * retries with another request when a server is behind, fails, dies or goes silent.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import fs from 'node:fs';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { RideShareError, UnavailableError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { Inbox } from '../transport/Inbox.ts';
import { logRefusals, type Refusals } from '../transport/RefusedMessages.ts';
import type { MessageSigner } from '../transport/signing.ts';
import { readReplicaPosition } from './replica-file.ts';
import type { ReplicationPosition } from './ReplicaStore.ts';
import {
  decodeServerSignal,
  encodeRequest,
  encodeRequesterSignal,
  LISTENING,
  SIGNAL_LIFETIME_MS,
  SNAPSHOT_DEFAULTS,
  SnapshotAttemptError,
  type RequesterMessage,
  type ServerSignal,
} from './snapshot-protocol.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

export { appliedSeqWaiter, serveSnapshots, SNAPSHOT_PRIORITY, SnapshotServer, type WaitForSeq } from './SnapshotServer.ts';

/** SQLite's file header: held back until the file is verified, so a partial file is never a database. */
const HEADER_BYTES = 100;
/** A server that is behind pauses itself; the next request soon finds another one. */
const RETRY_AFTER_BEHIND_MS = 100;

export interface FetchSnapshotOptions {
  connection: ChannelModel;
  names: ClusterNames;
  /** Signs the request and the acknowledgements, and checks every signal: only a worker of the cluster's copy is installed. */
  signer: MessageSigner;
  /** The snapshot must contain at least this seq; servers behind it wait a little or say so. */
  minSeq: number;
  /** The database file to write; anything there (and its -wal, -shm, -journal) is replaced. */
  file: string;
  /** For all attempts together. */
  timeoutMs: number;
  /** Silence from the server longer than this ends an attempt; keep it above the servers' heartbeatMs. */
  chunkTimeoutMs?: number;
  /** Where forged or stray signals are kept (none: only logged). */
  refused?: Refusals;
  /** Ends the fetch before its next attempt (the caller is stopping, or its connection is gone). */
  signal?: AbortSignal;
  logger?: Logger;
}

export interface FetchedSnapshot extends ReplicationPosition {
  size: number;
  /** SHA-256 of the whole file, as sent and as written. */
  sha256: string;
  attempts: number;
}

/**
 * Resolves once `file` holds a verified snapshot containing at least `minSeq`. Every attempt gets
 * a channel (and so a reply address) of its own: replies to an abandoned attempt go nowhere.
 */
export async function fetchSnapshot(options: FetchSnapshotOptions): Promise<FetchedSnapshot> {
  const deadline = monotonicNow() + options.timeoutMs;
  let lastError: unknown;
  for (let attempt = 1; ; attempt += 1) {
    const remaining = deadline - monotonicNow();
    if (options.signal?.aborted) {
      removeDatabaseFiles(options.file);
      throw new UnavailableError(`snapshot fetch abandoned after ${attempt - 1} attempts: ${String(options.signal.reason)}`);
    }
    if (remaining <= 0) {
      removeDatabaseFiles(options.file);
      throw new UnavailableError(`no snapshot within ${options.timeoutMs} ms after ${attempt - 1} attempts: ${String(lastError)}`);
    }
    const transfer = new IncomingTransfer(options, remaining);
    try {
      return { ...(await transfer.run()), attempts: attempt };
    } catch (error) {
      lastError = error;
      options.logger?.warn({ err: error, attempt }, 'snapshot attempt failed; asking again');
      if (error instanceof SnapshotAttemptError && error.reason === 'behind') await sleep(Math.min(RETRY_AFTER_BEHIND_MS, Math.max(0, deadline - monotonicNow())));
    }
  }
}

interface Begun {
  appliedSeq: number;
  epoch: number;
  size: number;
  chunkBytes: number;
  chunks: number;
}

/** One request and the answer of one server (or of its successor, if the broker redelivered it). */
class IncomingTransfer {
  private readonly transferId = randomUUID();
  private readonly chunkTimeoutMs: number;
  private channel: Channel | undefined;
  /** This attempt's own exclusive queue, signed into the request as its reply-to. */
  private queue = '';
  /** The signals' door: a worker's, to this queue, for this transfer. */
  private readonly signals: Inbox<ServerSignal>;
  private handle: fs.promises.FileHandle | undefined;
  private server: string | undefined;
  private begun: Begun | undefined;
  private next = 0;
  private hash: Hash = createHash('sha256');
  private header: Buffer | undefined;
  private work: Promise<void> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  private settle!: { resolve(position: FetchedSnapshot): void; reject(error: Error): void };
  private finished = false;

  constructor(
    private readonly options: FetchSnapshotOptions,
    private readonly remainingMs: number,
  ) {
    this.chunkTimeoutMs = options.chunkTimeoutMs ?? SNAPSHOT_DEFAULTS.chunkTimeoutMs;
    this.signals = new Inbox<ServerSignal>({
      from: 'snapshot-signal',
      what: 'snapshot signal',
      signer: options.signer,
      senders: ['master', 'slave'],
      refused: options.refused ?? logRefusals(options.logger),
      check: (envelope) => (envelope.to === this.queue && envelope.correlationId === this.transferId ? undefined : 'not for this transfer'),
      decode: (_message, envelope) => decodeServerSignal(envelope.meta),
    });
  }

  async run(): Promise<FetchedSnapshot> {
    const { connection, names, file, minSeq } = this.options;
    const outcome = new Promise<FetchedSnapshot>((resolve, reject) => (this.settle = { resolve, reject }));
    const overall = setTimeout(() => this.fail(new SnapshotAttemptError('timeout', `no snapshot within ${this.remainingMs} ms`)), this.remainingMs);
    let succeeded = false;
    try {
      removeDatabaseFiles(file);
      this.handle = await fs.promises.open(file, 'w');
      const channel = await connection.createChannel();
      this.channel = channel;
      channel.on('error', () => undefined); // the 'close' that follows is what matters
      channel.on('close', () => this.fail(new SnapshotAttemptError('closed', 'the snapshot channel closed')));
      this.queue = (await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false })).queue;
      await channel.consume(this.queue, (message) => message && this.enqueue(message), { noAck: true });
      // The request expires with the attempt: a server must not start on a requester that gave up.
      const request = encodeRequest(this.transferId, minSeq);
      const lifetime = Math.max(1, Math.floor(this.remainingMs));
      const signed = this.options.signer.seal({ to: names.snapshotQ, replyTo: this.queue, correlationId: this.transferId, expiresAt: this.options.signer.expiresIn(lifetime) }, request);
      channel.sendToQueue(names.snapshotQ, request, { ...signed, expiration: String(lifetime) });
      const fetched = await outcome;
      succeeded = true;
      return fetched;
    } finally {
      this.finished = true;
      clearTimeout(overall);
      clearTimeout(this.idleTimer);
      if (!succeeded && this.server) this.signal(this.server, { type: 'abort', reason: 'the requester gave up' });
      await this.channel?.close().catch(() => undefined);
      await this.work.catch(() => undefined);
      await this.handle?.close().catch(() => undefined);
      if (!succeeded) removeDatabaseFiles(file);
    }
  }

  private enqueue(message: ConsumeMessage): void {
    if (message.properties.correlationId !== this.transferId) return;
    this.work = this.work.then(() => this.onMessage(message)).catch((error: unknown) => this.fail(asError(error)));
  }

  private async onMessage(message: ConsumeMessage): Promise<void> {
    if (this.finished) return;
    const taken = this.signals.take(message);
    // A forgery is kept and ignored: the real server, if any, goes on; silence ends the attempt.
    if (!taken) return;
    const signal = taken.value;
    const from = taken.envelope.replyTo;
    if (from === undefined) throw new SnapshotAttemptError('protocol', 'a snapshot message without a reply address');
    if (signal.type === 'accepted') return this.onAccepted(from, signal.redelivered);
    if (from !== this.server) return;
    this.touch();
    switch (signal.type) {
      case 'preparing':
        return;
      case 'behind':
        throw new SnapshotAttemptError('behind', `the server has applied seq ${signal.appliedSeq}, below ${this.options.minSeq}`);
      case 'failed':
        throw new SnapshotAttemptError('failed', `the server failed: ${signal.reason}`);
      case 'begin':
        return this.onBegin(signal);
      case 'chunk':
        return this.onChunk(signal.index, signal.offset, message.content);
      case 'end':
        return this.onEnd(signal.size, signal.sha256);
    }
  }

  /**
   * The first server to accept is ours. Another acceptance of the same request means the broker
   * redelivered it: our server's channel closed (it died), so start again with the new one.
   */
  private async onAccepted(from: string, redelivered: boolean): Promise<void> {
    if (this.server !== undefined && !(redelivered && from !== this.server)) {
      if (from !== this.server) this.signal(from, { type: 'abort', reason: 'another server is sending this snapshot' });
      return;
    }
    if (this.server !== undefined) {
      this.options.logger?.warn({ transferId: this.transferId }, 'the snapshot server went away; another one took over the request');
      await this.restart();
    }
    this.server = from;
    this.signal(from, { type: 'ack', index: LISTENING });
    this.touch();
  }

  private onBegin(begin: Extract<ServerSignal, { type: 'begin' }>): void {
    if (this.begun) throw new SnapshotAttemptError('protocol', 'a second begin');
    if (begin.appliedSeq < this.options.minSeq) throw new SnapshotAttemptError('behind', `a snapshot at seq ${begin.appliedSeq}, below ${this.options.minSeq}`);
    if (begin.chunks !== Math.ceil(begin.size / begin.chunkBytes)) throw new SnapshotAttemptError('protocol', 'chunk count does not match the size');
    this.begun = { appliedSeq: begin.appliedSeq, epoch: begin.epoch, size: begin.size, chunkBytes: begin.chunkBytes, chunks: begin.chunks };
  }

  private async onChunk(index: number, offset: number, bytes: Buffer): Promise<void> {
    const begun = this.begun;
    if (!begun || index !== this.next || offset !== index * begun.chunkBytes || bytes.length !== Math.min(begun.chunkBytes, begun.size - offset)) {
      throw new SnapshotAttemptError('protocol', `unexpected chunk ${index} at ${offset} (${bytes.length} bytes), expected chunk ${this.next}`);
    }
    this.hash.update(bytes);
    let data = bytes;
    if (index === 0) {
      this.header = Buffer.from(bytes.subarray(0, HEADER_BYTES));
      data = Buffer.concat([Buffer.alloc(this.header.length), bytes.subarray(this.header.length)]);
    }
    await writeFully(this.requireHandle(), data, offset);
    this.next += 1;
    this.signal(this.server as string, { type: 'ack', index });
  }

  private async onEnd(size: number, sha256: string): Promise<void> {
    const begun = this.begun;
    if (!begun || this.next !== begun.chunks || size !== begun.size) throw new SnapshotAttemptError('protocol', `end after ${this.next} chunks`);
    const received = this.hash.digest('hex');
    if (received !== sha256) throw new SnapshotAttemptError('checksum', `snapshot checksum ${received} does not match the server's ${sha256}`);
    const handle = this.requireHandle();
    await writeFully(handle, this.header as Buffer, 0);
    await handle.datasync();
    await handle.close();
    this.handle = undefined;
    const position = readReplicaPosition(this.options.file);
    if (!position) throw new SnapshotAttemptError('protocol', 'the file holds no replication position');
    if (position.appliedSeq !== begun.appliedSeq || position.epoch !== begun.epoch) {
      throw new SnapshotAttemptError('protocol', `the file holds seq ${position.appliedSeq}/epoch ${position.epoch}, the server announced ${begun.appliedSeq}/${begun.epoch}`);
    }
    this.signal(this.server as string, { type: 'ack', index: begun.chunks });
    this.finished = true;
    this.settle.resolve({ ...position, size, sha256: received, attempts: 1 });
  }

  private async restart(): Promise<void> {
    await this.requireHandle().truncate(0);
    this.begun = undefined;
    this.next = 0;
    this.hash = createHash('sha256');
    this.header = undefined;
  }

  /** Any message from our server restarts the clock: heartbeats keep a slow copy alive. */
  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.fail(new SnapshotAttemptError('timeout', `nothing from the snapshot server for ${this.chunkTimeoutMs} ms`)), this.chunkTimeoutMs);
  }

  private signal(to: string, message: RequesterMessage): void {
    try {
      const body = encodeRequesterSignal(this.transferId, message);
      this.channel?.sendToQueue(to, body, this.options.signer.seal({ to, replyTo: this.queue, correlationId: this.transferId, expiresAt: this.options.signer.expiresIn(SIGNAL_LIFETIME_MS) }, body));
    } catch {
      // A closed channel: the attempt is over anyway.
    }
  }

  private requireHandle(): fs.promises.FileHandle {
    if (!this.handle) throw new SnapshotAttemptError('protocol', 'the snapshot file is closed');
    return this.handle;
  }

  private fail(error: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.settle.reject(error);
  }
}

async function writeFully(handle: fs.promises.FileHandle, data: Buffer, offset: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, offset + written);
    written += bytesWritten;
  }
}

function removeDatabaseFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) fs.rmSync(file + suffix, { force: true });
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new RideShareError('INTERNAL', String(error));
}
