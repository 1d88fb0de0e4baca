/**
 * What the cluster's znodes hold: JSON. A node whose data does not parse reads as empty, and one
 * whose data has not the shape its reader expects is ignored and told once per version of the
 * node: nodes are polled every pass, and the same bad version would otherwise fill the log.
 */
import type { z } from 'zod';
import type { Logger } from '../../shared/logger.ts';

export function encodeData(data: unknown): Buffer {
  return Buffer.from(JSON.stringify(data ?? null));
}

export function decodeData<T>(buffer: Buffer | undefined): T | undefined {
  if (!buffer || buffer.length === 0) return undefined;
  try {
    return JSON.parse(buffer.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Past this many, the versions told are forgotten: a long-running process's memory stays bounded. */
const MALFORMED_REMEMBERED = 1000;

export class NodeShapeCheck {
  private readonly malformedSeen = new Set<string>();

  constructor(private readonly logger: Logger | undefined) {}

  /** `data` if it has the shape `schema` describes, else undefined. */
  check<T>(path: string, version: number, data: unknown, schema: z.ZodType<T>): T | undefined {
    const parsed = schema.safeParse(data);
    if (parsed.success) return parsed.data;
    const seen = `${path}@${version}`;
    if (!this.malformedSeen.has(seen)) {
      if (this.malformedSeen.size > MALFORMED_REMEMBERED) this.malformedSeen.clear();
      this.malformedSeen.add(seen);
      this.logger?.warn({ path, version, problem: parsed.error.issues[0]?.message, at: parsed.error.issues[0]?.path.join('.') }, 'ignoring a znode whose data has not the expected shape');
    }
    return undefined;
  }
}
