/**
 * The bound on a worker's answer. RabbitMQ refuses a message over its max_message_size (128 MiB
 * by default in 3.10, 16 MiB from 4.0), and long before that a huge reply holds the worker, the
 * broker and the orchestrator for nothing a caller could use: a read whose encoded answer is over
 * MAX_REPLY_BYTES is answered RESULT_TOO_LARGE instead. The reply is encoded once anyway, so the
 * check is its byte length; only an answer over the bound is looked at command by command.
 */
import { encode, PROTOCOL_VERSION } from './messages.ts';
import type { Reply } from './reply.ts';

/**
 * One command's answer, at most. A page of 1,000 rows of everyday width is a few hundred KiB; of
 * the widest rows (two 1,024-character texts escaped at six bytes a character) about 340 fit.
 */
export const MAX_REPLY_BYTES = 4 * 1024 * 1024;
/** A batch's whole answer, at most: far below any broker's max_message_size. */
export const MAX_BATCH_REPLY_BYTES = 16 * 1024 * 1024;

/** The reply message for one command, or a batch's replies in order, none over the bounds. */
export function encodeWithinBound(replies: Reply<unknown>[], batched: boolean): Buffer {
  const whole = encodeReplies(replies, batched);
  if (whole.length <= MAX_REPLY_BYTES) return whole;
  const sizes = replies.map((reply) => (batched ? encode(reply).length : whole.length));
  const bounded = replies.map((reply, index) => ((sizes[index] as number) > MAX_REPLY_BYTES ? tooLarge(sizes[index] as number) : reply));
  if (!batched) return encodeReplies(bounded, false);
  // Each fits alone but not all together: the largest give way until the batch fits.
  let total = bounded.reduce((sum, reply, index) => sum + (reply === replies[index] ? (sizes[index] as number) : 0), 0);
  const largestFirst = sizes.map((size, index) => ({ size, index })).sort((a, b) => b.size - a.size);
  for (const { size, index } of largestFirst) {
    if (total <= MAX_BATCH_REPLY_BYTES) break;
    if (bounded[index] !== replies[index]) continue;
    bounded[index] = tooLarge(size);
    total -= size;
  }
  return encodeReplies(bounded, true);
}

function encodeReplies(replies: Reply<unknown>[], batched: boolean): Buffer {
  return encode(batched ? { v: PROTOCOL_VERSION, ok: true, result: replies } : replies[0]);
}

function tooLarge(bytes: number): Reply<never> {
  const mib = (bytes / (1024 * 1024)).toFixed(1);
  return {
    v: PROTOCOL_VERSION,
    ok: false,
    code: 'RESULT_TOO_LARGE',
    message: `the answer would be ${mib} MiB, over the ${MAX_REPLY_BYTES / (1024 * 1024)} MiB one reply may hold: ask for fewer rows or columns (limit, columns)`,
  };
}
