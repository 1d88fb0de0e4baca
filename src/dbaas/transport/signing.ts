/**
 * Every message of the database service is signed with the cluster's key: commands, worker
 * replies, sync messages, snapshot requests, signals, chunks and acknowledgements. The signature
 * is one HMAC-SHA256 over a canonical header and the body, and the header holds everything a
 * broker could otherwise change or replay behind the body's back: who sent it (role and id),
 * where it was published (queue or exchange), its reply-to and correlation id, when it expires,
 * and any meaning carried in a header rather than the body (a snapshot signal). Whoever has the
 * broker's credentials but not the key can then neither inject nor answer nor redirect anything.
 * The key is CLUSTER_KEY or DATA_DIR/secrets/cluster.key; every orchestrator and worker has it.
 *
 * Reply-to addresses that are signed must be known to the sender before it sends: a named
 * exclusive queue, never RabbitMQ's direct reply-to (the broker rewrites that name on the way).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ConsumeMessage, Options } from 'amqplib';
import { RideShareError } from '../../shared/errors.ts';
import { type Clock, WALL_CLOCK } from '../coordination/ClusterClock.ts';

export const SIGNATURE_HEADER = 'x-rideshare-signature';
const ROLE_HEADER = 'x-rideshare-role';
const SENDER_HEADER = 'x-rideshare-sender';
const EXPIRES_HEADER = 'x-rideshare-expires';
/** A message's meaning that travels in a header (a snapshot chunk's body is raw file bytes). */
export const META_HEADER = 'x-rideshare-meta';

/** The version of the signed header; a message signed otherwise does not verify. */
const ENVELOPE_VERSION = 2;

/**
 * Who may send what: the orchestrator commands; the master answers writeQ, publishes the sync
 * stream and serves snapshots; a slave answers readQ and serves snapshots; a replica (a worker
 * joining) asks the master's position, asks for a snapshot and acknowledges its chunks.
 */
export const SENDER_ROLES = ['orchestrator', 'master', 'slave', 'replica'] as const;
export type SenderRole = (typeof SENDER_ROLES)[number];

export interface Sender {
  role: SenderRole;
  id: string;
}

/** What the signature binds besides the body. */
export interface Envelope {
  /** The queue (default exchange) or exchange the message is published to. */
  to: string;
  replyTo?: string;
  correlationId?: string;
  /** Ms since the epoch, on the cluster's clock (ClusterClock.ts), after which the message is refused; 0: it never expires (the sync stream). */
  expiresAt: number;
  meta?: string;
}

/** A message whose signature held, with what its envelope says. */
export interface Opened {
  sender: Sender;
  to: string;
  replyTo: string | undefined;
  correlationId: string | undefined;
  expiresAt: number;
  meta: string | undefined;
}

/** Why a message was not opened: no valid signature, or one that held but is out of date. */
export type Unopened = { refused: 'unsigned' | 'expired' };

export class MessageSigner {
  private readonly key: Buffer;

  constructor(
    key: string | Buffer,
    /** Who this signer signs as. */
    readonly sender: Sender = { role: 'orchestrator', id: `pid-${process.pid}` },
    /** Where expiries are read, the ones it stamps and the ones it checks: the cluster's clock in a process of the cluster. */
    readonly clock: Clock = WALL_CLOCK,
  ) {
    if (key.length < 16) throw new RideShareError('CONFIG_INVALID', 'the cluster key must be at least 16 characters');
    this.key = Buffer.isBuffer(key) ? key : Buffer.from(key, 'utf8');
  }

  /** The same key and clock, signing as someone else (a slave promoted to master, a replica joining). */
  as(role: SenderRole, id = this.sender.id): MessageSigner {
    return new MessageSigner(this.key, { role, id }, this.clock);
  }

  /** The expiry of a message that may wait `lifetimeMs` from now, on the signer's clock. */
  expiresIn(lifetimeMs: number): number {
    return this.clock.now() + lifetimeMs;
  }

  /** The properties to publish `body` with: the envelope's own and the signature. */
  seal(envelope: Envelope, body: Buffer): Options.Publish {
    const { role, id } = this.sender;
    const headers: Record<string, string> = {
      [ROLE_HEADER]: role,
      [SENDER_HEADER]: id,
      [EXPIRES_HEADER]: String(envelope.expiresAt),
      [SIGNATURE_HEADER]: this.sign(canonical(role, id, envelope), body).toString('base64'),
    };
    if (envelope.meta !== undefined) headers[META_HEADER] = envelope.meta;
    const properties: Options.Publish = { headers };
    if (envelope.replyTo !== undefined) properties.replyTo = envelope.replyTo;
    if (envelope.correlationId !== undefined) properties.correlationId = envelope.correlationId;
    return properties;
  }

  /**
   * Opens a message as delivered: the signature must cover the address it was delivered from,
   * its reply-to and correlation id as they are, its sender and expiry, and its body.
   */
  open(message: Pick<ConsumeMessage, 'content' | 'properties' | 'fields'>, now = this.clock.now()): Opened | Unopened {
    const headers = (message.properties.headers ?? {}) as Record<string, unknown>;
    const presented = headers[SIGNATURE_HEADER];
    const role = headers[ROLE_HEADER];
    const id = headers[SENDER_HEADER];
    const expires = Number(headers[EXPIRES_HEADER]);
    const meta = headers[META_HEADER];
    if (typeof presented !== 'string' || !isRole(role) || typeof id !== 'string' || !Number.isSafeInteger(expires) || (meta !== undefined && typeof meta !== 'string')) {
      return { refused: 'unsigned' };
    }
    const { exchange, routingKey } = message.fields;
    const opened: Opened = {
      sender: { role, id },
      to: exchange !== '' ? exchange : routingKey,
      replyTo: stringOrUndefined(message.properties.replyTo),
      correlationId: stringOrUndefined(message.properties.correlationId),
      expiresAt: expires,
      meta,
    };
    const expected = this.sign(canonical(role, id, opened), message.content);
    const given = Buffer.from(presented, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { refused: 'unsigned' };
    if (expires !== 0 && now > expires) return { refused: 'expired' };
    return opened;
  }

  private sign(header: string, body: Buffer): Buffer {
    return createHmac('sha256', this.key).update(header).update(body).digest();
  }
}

export function isOpened(result: Opened | Unopened): result is Opened {
  return !('refused' in result);
}

/** A JSON array of strings and numbers delimits itself: no field can spill into the next or into the body. */
function canonical(role: SenderRole, id: string, envelope: Envelope): string {
  return `${JSON.stringify([ENVELOPE_VERSION, role, id, envelope.to, envelope.replyTo ?? '', envelope.correlationId ?? '', envelope.expiresAt, envelope.meta ?? ''])}\n`;
}

function isRole(value: unknown): value is SenderRole {
  return typeof value === 'string' && (SENDER_ROLES as readonly string[]).includes(value);
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
