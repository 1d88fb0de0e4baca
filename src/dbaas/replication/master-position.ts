/**
 * Asks the master for the seq it has applied, through writeQ: the answer comes after every write
 * queued before the question, so it covers every write published before it was asked. A joining
 * replica asks once it reads the sync log and requires a snapshot at least that recent, so the
 * copy and the log always meet (no gap, no endless re-copying from a lagging slave).
 */
import { randomUUID } from 'node:crypto';
import type { ChannelModel } from 'amqplib';
import { TimeoutError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { encode, PROTOCOL_VERSION, type DbCommand } from '../protocol/messages.ts';
import { decodeReply, withResult, type Reply } from '../protocol/reply.ts';
import { decodePosition, type Position } from '../protocol/results.ts';
import { Inbox } from '../transport/Inbox.ts';
import { logRefusals } from '../transport/RefusedMessages.ts';
import type { ClusterNames } from '../protocol/names.ts';
import type { MessageSigner } from '../transport/signing.ts';

/** One attempt's wait; a failover in progress simply means asking again. */
const ATTEMPT_MS = 2000;

export async function askMasterPosition(connection: ChannelModel, names: ClusterNames, signer: MessageSigner, timeoutMs: number, logger?: Logger): Promise<Position> {
  const giveUpAt = performance.now() + timeoutMs;
  for (;;) {
    const attemptMs = Math.max(100, Math.min(ATTEMPT_MS, giveUpAt - performance.now()));
    const position = await askOnce(connection, names, signer, attemptMs, logger);
    if (position) return position;
    if (performance.now() >= giveUpAt) throw new TimeoutError(`no master answered its position within ${timeoutMs} ms`);
  }
}

async function askOnce(connection: ChannelModel, names: ClusterNames, signer: MessageSigner, timeoutMs: number, logger: Logger | undefined): Promise<Position | undefined> {
  const channel = await connection.createChannel();
  try {
    const correlationId = randomUUID();
    let settle: (position: Position | undefined) => void = () => undefined;
    const answer = new Promise<Position | undefined>((resolve) => (settle = resolve));
    const timer = setTimeout(() => settle(undefined), timeoutMs);
    // A queue of our own, named before the question is sent, so the master's answer is signed to it.
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    const answers = new Inbox<Reply<Position>>({
      from: 'reply',
      what: 'position reply',
      signer,
      senders: ['master'],
      refused: logRefusals(logger),
      check: (envelope) => (envelope.to === queue && envelope.correlationId === correlationId ? undefined : 'not the answer to this question'),
      decode: (message) => withResult(decodeReply(message.content), decodePosition),
    });
    await channel.consume(
      queue,
      (message) => {
        if (!message || message.properties.correlationId !== correlationId) return;
        const reply = answers.take(message)?.value;
        if (!reply) return;
        clearTimeout(timer);
        settle(reply.ok ? reply.result : undefined);
      },
      { noAck: true },
    );
    const command: DbCommand = { v: PROTOCOL_VERSION, kind: 'position' };
    const content = encode(command);
    const signed = signer.seal({ to: names.writeQ, replyTo: queue, correlationId, expiresAt: signer.expiresIn(timeoutMs) }, content);
    channel.sendToQueue(names.writeQ, content, { ...signed, expiration: String(timeoutMs) });
    return await answer;
  } finally {
    await channel.close().catch(() => undefined);
  }
}
