/**
 * The operator's explicit acceptance of lost writes: `DATA_DIR/give-up-writes.json` holding the
 * commit record whose missing writes are given up, `{"epoch": E, "seq": S}`, exactly as the
 * refusal (commit-coverage.ts) printed it. It releases that one refusal only: a record naming
 * another commit (an older loss, a typo) releases nothing, so a file left behind can never
 * silently accept a later loss. The supervisor removes it once a master runs from the files.
 * JSON only: written by hand, read by the supervisor.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { RideShareError } from '../../shared/errors.ts';
import { readTextIfPresent } from '../../shared/optional-file.ts';
import type { CommitRecord } from '../coordination/commit-record.ts';

const givenUpShape = z.object({ epoch: z.number().int().min(0), seq: z.number().int().min(0) });

export function givenUpWritesPath(dataDir: string): string {
  return path.join(dataDir, 'give-up-writes.json');
}

/** The commit record the operator gave up, if the file is there; an INTEGRITY error when it does not hold one. */
export function readGivenUpWrites(dataDir: string): CommitRecord | undefined {
  const file = givenUpWritesPath(dataDir);
  const text = readTextIfPresent(file);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RideShareError('INTEGRITY', `${file} is not JSON; it must hold {"epoch": E, "seq": S} as the refusal printed it`);
  }
  const parsed = givenUpShape.safeParse(json);
  if (!parsed.success)
    throw new RideShareError(
      'INTEGRITY',
      `${file} must hold {"epoch": E, "seq": S} as the refusal printed it: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    );
  return parsed.data;
}

/** Once a master runs from the files, the record has done its work. */
export function clearGivenUpWrites(dataDir: string): void {
  fs.rmSync(givenUpWritesPath(dataDir), { force: true });
}
