/**
 * What a snapshot transfer says over RabbitMQ, declared once for both sides. Every message is
 * signed (src/dbaas/transport/signing.ts), reply-to and transfer id included: a server sends a
 * copy only to the reply-to its request signed, and a requester installs only what a worker of
 * the cluster signed, to its own queue, for its own transfer.
 *
 * A joining replica publishes a request on snapshotQ (reply-to: an exclusive queue of its own).
 * The server that takes it answers on that queue: `accepted` at once (its reply-to, its own
 * exclusive queue, tells the requester where to send acknowledgements), `preparing` heartbeats while it waits for
 * `minSeq` and copies its database, then either `behind` or `begin`, the chunks and `end` (the
 * SHA-256 of the whole file). The requester acknowledges `accepted` (index -1), every chunk once
 * it is written, and the verified `end` (index = chunks); the server keeps at most `window`
 * chunks unacknowledged, so neither the reply queue nor anyone's memory holds the database.
 */
import { z } from 'zod';
import { RideShareError } from '../../shared/errors.ts';

export const SNAPSHOT_PROTOCOL_VERSION = 2;

/** How long a signal or an acknowledgement stays good: each is consumed at once. */
export const SIGNAL_LIFETIME_MS = 30_000;

/** The requester's acknowledgement of `accepted`: "I am listening to you". */
export const LISTENING = -1;

export const SNAPSHOT_DEFAULTS = {
  /** 1 MiB: eight frames of amqplib's 128 KiB frame_max, far below any broker's max_message_size. */
  chunkBytes: 1024 * 1024,
  /**
   * Chunks unacknowledged at most: 8 MiB in flight per transfer. With 1,000,000 rides (53 MiB) on
   * two busy cores, 8 moved the copy in about the time of 16 x 256 KiB and faster than 4 x 1 MiB.
   */
  window: 8,
  /** Silence from the other side longer than this ends the transfer (a dead or stuck peer). */
  chunkTimeoutMs: 5000,
  /** How long a server behind the request's minSeq waits for the sync stream before saying so. */
  minSeqWaitMs: 2000,
  /** Heartbeats while the server waits for minSeq or copies, well under chunkTimeoutMs. */
  heartbeatMs: 1000,
} as const;

export type TransferTuning = { -readonly [K in keyof typeof SNAPSHOT_DEFAULTS]: number };

const requestSchema = z.object({
  v: z.literal(SNAPSHOT_PROTOCOL_VERSION),
  type: z.literal('request'),
  transferId: z.string().min(1).max(64),
  minSeq: z.number().int().min(0),
});

const requesterSignalSchema = z.discriminatedUnion('type', [
  z.object({ v: z.literal(SNAPSHOT_PROTOCOL_VERSION), type: z.literal('ack'), transferId: z.string(), index: z.number().int().min(LISTENING) }),
  z.object({ v: z.literal(SNAPSHOT_PROTOCOL_VERSION), type: z.literal('abort'), transferId: z.string(), reason: z.string() }),
]);

const position = { appliedSeq: z.number().int().min(0), epoch: z.number().int().min(0) };

const serverSignalSchema = z.discriminatedUnion('type', [
  /** `redelivered`: an earlier server took this request and died, so the requester may switch. */
  z.object({ type: z.literal('accepted'), redelivered: z.boolean() }),
  z.object({ type: z.literal('preparing') }),
  z.object({ type: z.literal('behind'), appliedSeq: z.number().int().min(0) }),
  z.object({ type: z.literal('begin'), ...position, size: z.number().int().min(1), chunkBytes: z.number().int().min(1), chunks: z.number().int().min(1) }),
  z.object({ type: z.literal('chunk'), index: z.number().int().min(0), offset: z.number().int().min(0) }),
  z.object({ type: z.literal('end'), size: z.number().int().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  z.object({ type: z.literal('failed'), reason: z.string() }),
]);

export type SnapshotRequest = z.infer<typeof requestSchema>;
export type RequesterSignal = z.infer<typeof requesterSignalSchema>;
export type ServerSignal = z.infer<typeof serverSignalSchema>;

export function encodeRequest(transferId: string, minSeq: number): Buffer {
  const request: SnapshotRequest = { v: SNAPSHOT_PROTOCOL_VERSION, type: 'request', transferId, minSeq };
  return Buffer.from(JSON.stringify(request));
}

export function decodeRequest(body: Buffer): SnapshotRequest {
  return requestSchema.parse(JSON.parse(body.toString('utf8')));
}

/** What a requester tells its server; the version and the transfer id are added here. */
export type RequesterMessage = { type: 'ack'; index: number } | { type: 'abort'; reason: string };

export function encodeRequesterSignal(transferId: string, message: RequesterMessage): Buffer {
  const signal: RequesterSignal = { v: SNAPSHOT_PROTOCOL_VERSION, transferId, ...message };
  return Buffer.from(JSON.stringify(signal));
}

export function decodeRequesterSignal(body: Buffer): RequesterSignal {
  return requesterSignalSchema.parse(JSON.parse(body.toString('utf8')));
}

/** A server signal travels in the signed envelope's meta: a chunk's bytes are the message body, never JSON. */
export function encodeServerSignal(signal: ServerSignal): string {
  return JSON.stringify({ v: SNAPSHOT_PROTOCOL_VERSION, ...signal });
}

export function decodeServerSignal(raw: string | undefined): ServerSignal {
  if (raw === undefined) throw new RideShareError('MALFORMED_MESSAGE', 'not a snapshot message');
  const parsed = JSON.parse(raw) as { v?: unknown };
  if (parsed.v !== SNAPSHOT_PROTOCOL_VERSION) throw new RideShareError('MALFORMED_MESSAGE', `snapshot protocol version ${String(parsed.v)} is not ${SNAPSHOT_PROTOCOL_VERSION}`);
  return serverSignalSchema.parse(parsed);
}

/** Why a requester gives up on one server; the caller retries elsewhere unless time is up. */
export class SnapshotAttemptError extends Error {
  constructor(
    readonly reason: 'behind' | 'failed' | 'timeout' | 'protocol' | 'checksum' | 'closed',
    message: string,
  ) {
    super(message);
    this.name = 'SnapshotAttemptError';
  }
}
