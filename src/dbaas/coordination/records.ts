/**
 * What every znode record is built from. Each record's schema lives with the module that owns its
 * znode (MasterLease, WorkerRegistry, ...), its type inferred from it, and is checked on every
 * read: a node that does not hold what its path promises (a hand edit, a client of another
 * version, a stranger before the ACLs) reads as holding nothing, as a node that does not parse as
 * JSON always has, and is logged by the client (src/dbaas/coordination/ZkClient.ts). Unknown
 * fields are kept, so a newer writer's additions pass through an older reader.
 */
import { z } from 'zod';

export const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const pid = z.number().int().min(1);
export const id = z.string().min(1).max(200);

/** /desired-slaves and /epoch: a bare non-negative integer. */
export const countRecord = count;

/**
 * The reader of a record of this shape: unknown fields pass, and the type stays the shape's own
 * (an index signature for them would make every field of the type optional to Omit and Partial).
 */
export function looseRecord<Shape extends z.ZodRawShape>(shape: z.ZodObject<Shape>): z.ZodType<z.infer<z.ZodObject<Shape>>> {
  return shape.loose();
}
