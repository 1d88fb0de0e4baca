/**
 * What a backup is, declared once for the side that takes it (the orchestrator's
 * `POST /api/v1/db/backup`) and the sides that keep and restore it (`npm run backup`, `npm run
 * restore`): a worker's SQLite file holding exactly the writes up to `seq`, plus a manifest
 * (`<file>.json`) with that seq, the epoch, the size and the SHA-256 of the file. Opens no database.
 */
import { z } from 'zod';
import { RideShareError } from '../../shared/errors.ts';

export const BACKUP_FORMAT = 'rideshare-backup';
export const BACKUP_FORMAT_VERSION = 1;

/** The answer headers of `POST /api/v1/db/backup` (lower case, as node gives them back). */
export const BACKUP_HEADERS = {
  seq: 'x-rideshare-seq',
  epoch: 'x-rideshare-epoch',
  sha256: 'x-rideshare-sha256',
  cluster: 'x-rideshare-cluster',
  takenAt: 'x-rideshare-taken-at',
} as const;

const SHA256 = /^[0-9a-f]{64}$/;

export const manifestSchema = z.object({
  format: z.literal(BACKUP_FORMAT),
  version: z.literal(BACKUP_FORMAT_VERSION),
  /** The last write the file holds: it holds every write up to this seq and none after. */
  seq: z.number().int().min(0),
  epoch: z.number().int().min(0),
  sha256: z.string().regex(SHA256),
  size: z.number().int().min(1),
  /** When the orchestrator had the copy (ISO 8601). */
  takenAt: z.string().min(1),
  /** RIDESHARE_CLUSTER of the cluster it was taken from. */
  cluster: z.string().min(1),
});

export type BackupManifest = z.infer<typeof manifestSchema>;

/** Where a backup's manifest lives: next to it, with `.json` added to its name. */
export function manifestPathOf(file: string): string {
  return `${file}.json`;
}

/** The position, size and checksum headers of a backup answer, checked; throws on anything missing or malformed. */
export function manifestFromHeaders(headers: Record<string, string | string[] | undefined>, size: number): BackupManifest {
  const one = (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const parsed = manifestSchema.safeParse({
    format: BACKUP_FORMAT,
    version: BACKUP_FORMAT_VERSION,
    seq: Number(one(BACKUP_HEADERS.seq)),
    epoch: Number(one(BACKUP_HEADERS.epoch)),
    sha256: one(BACKUP_HEADERS.sha256),
    size,
    takenAt: one(BACKUP_HEADERS.takenAt),
    cluster: one(BACKUP_HEADERS.cluster),
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new RideShareError('MALFORMED_MESSAGE', `the orchestrator's backup answer lacks valid headers (${problems})`);
  }
  return parsed.data;
}
