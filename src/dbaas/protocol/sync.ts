/**
 * The sync stream: what a master publishes on its epoch's fanout and every replica follows, each
 * message declared once as a schema with its type inferred, and decoded with it on arrival.
 */
import { z } from 'zod';
import { checked, parseJson, versionSchema } from './messages.ts';
import { parseWrite } from './queries.ts';
import { writeResultSchema } from './results.ts';
import { InvalidRequestError } from './wire-errors.ts';

/** The most writes one sync group carries. */
export const MAX_GROUP = 512;

const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** One applied write as the master broadcasts it; the write inside is checked by queries.ts. */
const syncWriteFields = z.object({
  v: versionSchema,
  kind: z.literal('write'),
  epoch: seqSchema,
  seq: seqSchema.min(1),
  requestId: z.string().min(1).max(256),
  /** The write as applied: an insert carries the id the master assigned, so replicas store the same row. */
  write: z.unknown(),
  result: writeResultSchema,
});

/* Transforms of whole messages: zod runs them only once the whole message has passed. */
const applied = (write: z.infer<typeof syncWriteFields>) => ({ ...write, write: parseWrite(write.write) });
const syncWriteSchema = syncWriteFields.transform(applied);
export type SyncWrite = z.infer<typeof syncWriteSchema>;

/**
 * The writes a master applied in one transaction (group commit), published as one message with
 * consecutive seqs; a replica applies them in one transaction too.
 */
const syncGroupSchema = z
  .object({ v: versionSchema, kind: z.literal('group'), epoch: seqSchema, writes: z.array(syncWriteFields).min(1).max(MAX_GROUP) })
  .transform((group) => ({ ...group, writes: group.writes.map(applied) }));
export type SyncGroup = z.infer<typeof syncGroupSchema>;

/**
 * A master's epoch mark. The first one of an epoch is published right after the older epochs'
 * exchanges are deleted: everything before it in a queue was routed before the fence, anything
 * of an older epoch after it is a late frame and is ignored. With `seq`, it states the master's
 * position: every replica following the stream must then be exactly there.
 */
const syncEpochSchema = z.object({ v: versionSchema, kind: z.literal('epoch'), epoch: seqSchema.min(1), seq: seqSchema.optional(), masterId: z.string() });
export type SyncEpoch = z.infer<typeof syncEpochSchema>;

const syncSchema = z.discriminatedUnion('kind', [syncWriteSchema, syncGroupSchema, syncEpochSchema]);
export type SyncMessage = z.infer<typeof syncSchema>;

export function decodeSync(content: Buffer): SyncMessage {
  const message = checked(syncSchema, parseJson(content, 'sync message'), 'sync message');
  if (message.kind !== 'group') return message;
  // One transaction on the master: consecutive seqs of the group's own epoch, or it was not a master's.
  const { writes } = message;
  const broken = writes.findIndex((write, index) => write.epoch !== message.epoch || (index > 0 && write.seq !== (writes[index - 1] as SyncWrite).seq + 1));
  if (broken >= 0) throw new InvalidRequestError(`sync message: write ${broken} of the group does not follow its predecessor in epoch ${message.epoch}`);
  return message;
}
