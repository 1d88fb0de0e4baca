/**
 * Asks the master for the seq it has applied, through writeQ: the answer comes after every write
 * queued before the question, so it covers every write published before it was asked. A joining
 * replica asks once its sync queue is bound and requires a snapshot at least that recent, so the
 * copy and the queue always meet (no gap, no endless re-copying from a lagging slave).
 */
import { randomUUID } from 'node:crypto';
import type { ChannelModel } from 'amqplib';
import { TimeoutError } from '../../shared/errors.ts';
import { decodeReply, encode, PROTOCOL_VERSION, type DbCommand, type Position } from '../protocol/messages.ts';
import type { ClusterNames } from '../protocol/names.ts';
import type { MessageSigner } from '../transport/signing.ts';

const REPLY_TO = 'amq.rabbitmq.reply-to';
/** One attempt's wait; a failover in progress simply means asking again. */
const ATTEMPT_MS = 2000;

export async function askMasterPosition(connection: ChannelModel, names: ClusterNames, signer: MessageSigner, timeoutMs: number): Promise<Position> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const attemptMs = Math.max(100, Math.min(ATTEMPT_MS, giveUpAt - Date.now()));
    const position = await askOnce(connection, names, signer, attemptMs);
    if (position) return position;
    if (Date.now() >= giveUpAt) throw new TimeoutError(`no master answered its position within ${timeoutMs} ms`);
  }
}

async function askOnce(connection: ChannelModel, names: ClusterNames, signer: MessageSigner, timeoutMs: number): Promise<Position | undefined> {
  const channel = await connection.createChannel();
  try {
    const correlationId = randomUUID();
    let settle: (position: Position | undefined) => void = () => undefined;
    const answer = new Promise<Position | undefined>((resolve) => (settle = resolve));
    const timer = setTimeout(() => settle(undefined), timeoutMs);
    // Direct reply-to needs the consumer in place before the question is sent.
    await channel.consume(
      REPLY_TO,
      (message) => {
        if (!message || message.properties.correlationId !== correlationId) return;
        clearTimeout(timer);
        const reply = decodeReply(message.content);
        settle(reply.ok ? (reply.result as Position) : undefined);
      },
      { noAck: true },
    );
    const command: DbCommand = { v: PROTOCOL_VERSION, kind: 'position' };
    const content = encode(command);
    channel.sendToQueue(names.writeQ, content, { replyTo: REPLY_TO, correlationId, expiration: String(timeoutMs), headers: signer.headers(content) });
    return await answer;
  } finally {
    await channel.close().catch(() => undefined);
  }
}
