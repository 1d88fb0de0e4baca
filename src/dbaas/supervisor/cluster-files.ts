/**
 * The files by which a DATA_DIR tells a starting supervisor what it holds
 * (src/dbaas/supervisor/cluster-bootstrap.ts decides by them). The cluster marker says it holds a
 * cluster. A restore waiting for the first start is `DATA_DIR/restore.json`, written by
 * `npm run restore` (or RESTORE_FROM, src/dbaas/backup/restore.ts) after it has installed a
 * verified copy of the backup in DATA_DIR/workers: a DATA_DIR with this record and without the
 * cluster marker is a new cluster whose master starts from that file. JSON only: the supervisor
 * reads it, and the supervisor never opens a database.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { RideShareError } from '../../shared/errors.ts';
import { readTextIfPresent } from '../../shared/optional-file.ts';
import { writeFileAtomically } from '../../shared/private-files.ts';

/** The file that says a DATA_DIR holds a cluster (and, after a restore, which backup it began from). */
export function clusterMarkerOf(dataDir: string): string {
  return path.join(dataDir, 'cluster.json');
}

const recordSchema = z.object({
  /** The installed copy's name in DATA_DIR/workers. */
  file: z.string().regex(/^[A-Za-z0-9._-]+\.db$/),
  /** The backup it is a copy of (left where it was). */
  from: z.string().min(1),
  seq: z.number().int().min(0),
  epoch: z.number().int().min(0),
  sha256: z.string(),
  size: z.number().int().min(1),
  /** The cluster the backup was taken from, when its manifest said so. */
  takenFrom: z.string().optional(),
  installedAt: z.string(),
});

export type PendingRestore = z.infer<typeof recordSchema>;

export function restoreRecordPath(dataDir: string): string {
  return path.join(dataDir, 'restore.json');
}

export function readPendingRestore(dataDir: string): PendingRestore | undefined {
  const file = restoreRecordPath(dataDir);
  const text = readTextIfPresent(file);
  if (text === undefined) return undefined;
  const parsed = recordSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new RideShareError('INTEGRITY', `${file} is not a restore record: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  return parsed.data;
}

/** Written under another name and renamed: a record cut short is never read as one. */
export function writePendingRestore(dataDir: string, record: PendingRestore): void {
  writeFileAtomically(restoreRecordPath(dataDir), `${JSON.stringify(record, null, 2)}\n`);
}

/** The cluster marker now carries the record; the pending one goes. */
export function clearPendingRestore(dataDir: string): void {
  fs.rmSync(restoreRecordPath(dataDir), { force: true });
}
