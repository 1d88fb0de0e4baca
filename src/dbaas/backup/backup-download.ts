/**
 * The client side of `POST /api/v1/db/backup` (`npm run backup`): streams the answer to a partial
 * file next to the target while hashing it, checks size and SHA-256 against the answer's headers,
 * validates the file (backup-file.ts: integrity, position), renames it into place and writes its
 * manifest beside it (`<file>.json`). Orchestrators are tried in order: one that is down, stopping
 * or busy with another backup (a 503) passes the request to the next.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { RideShareError } from '../../shared/errors.ts';
import { PRIVATE_FILE_MODE, writeFileAtomically } from '../../shared/private-files.ts';
import { manifestFromHeaders, manifestPathOf, type BackupManifest } from './backup-format.ts';
import { inspectBackup, type InspectedBackup } from './backup-file.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

export const BACKUP_PATH = '/api/v1/db/backup';

export interface DownloadOptions {
  /** Tried in order. */
  orchestratorUrls: string[];
  file: string;
  /** Replace an existing file (and manifest) of that name. */
  force?: boolean;
  /** How long the orchestrator may take to have the copy ready (its SNAPSHOT_TIMEOUT_MS and some). */
  readyTimeoutMs?: number;
  /** The admin role's bearer token (a backup holds every row, password hashes included). */
  token?: string;
}

export interface Downloaded {
  file: string;
  manifestFile: string;
  manifest: BackupManifest;
  inspected: InspectedBackup;
  /** The orchestrator that answered. */
  from: string;
  ms: number;
}

const DEFAULT_READY_TIMEOUT_MS = 60_000;
/** Silence in the middle of the body longer than this ends the download. */
const BODY_IDLE_TIMEOUT_MS = 30_000;

export class BackupFailedError extends RideShareError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAVAILABLE', message, options);
  }
}

export async function downloadBackup(options: DownloadOptions): Promise<Downloaded> {
  const started = monotonicNow();
  const target = path.resolve(options.file);
  if (!fs.existsSync(path.dirname(target))) throw new RideShareError('BAD_REQUEST', `the folder ${path.dirname(target)} does not exist`);
  if (fs.existsSync(target) && !options.force) throw new RideShareError('CONFLICT', `${target} exists; choose another name, or add --force to replace it`);
  const failures: string[] = [];
  for (const url of options.orchestratorUrls) {
    const partial = `${target}.partial-${process.pid}`;
    try {
      const answer = await fetchInto(url, partial, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, options.token);
      if (answer.kind === 'refused') {
        failures.push(`${url}: ${answer.reason}`);
        if (answer.retriable) continue;
        break;
      }
      const inspected = await inspectBackup(partial, answer.manifest);
      fs.renameSync(partial, target);
      const manifestFile = manifestPathOf(target);
      writeFileAtomically(manifestFile, `${JSON.stringify(answer.manifest, null, 2)}\n`);
      return { file: target, manifestFile, manifest: answer.manifest, inspected, from: url, ms: monotonicNow() - started };
    } catch (error) {
      failures.push(`${url}: ${(error as Error).message}`);
      if (error instanceof RideShareError && !error.retriable) break;
    } finally {
      fs.rmSync(partial, { force: true });
    }
  }
  throw new BackupFailedError(`no backup taken: ${failures.join('; ')}`);
}

type Answer = { kind: 'file'; manifest: BackupManifest } | { kind: 'refused'; reason: string; retriable: boolean };

async function fetchInto(url: string, partial: string, readyTimeoutMs: number, token: string | undefined): Promise<Answer> {
  const response = await request(`${url}${BACKUP_PATH}`, {
    method: 'POST',
    headers: token ? { authorization: `Bearer ${token}` } : {},
    headersTimeout: readyTimeoutMs,
    bodyTimeout: BODY_IDLE_TIMEOUT_MS,
  });
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    let reason = `${response.statusCode} ${text.slice(0, 300)}`;
    try {
      const body = JSON.parse(text) as { error?: string; code?: string };
      if (body.error) reason = `${response.statusCode} ${body.code ?? ''} ${body.error}`.replace(/\s+/g, ' ');
    } catch {
      // Not one of our JSON errors: the status and the start of the text say enough.
    }
    if (response.statusCode === 401 || response.statusCode === 403) reason += ' (a backup needs the admin token: ADMIN_TOKEN, or DATA_DIR/secrets/admin.token of the cluster)';
    return { kind: 'refused', reason, retriable: response.statusCode >= 500 };
  }
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  // A backup holds every row, password hashes included: for the user that took it alone.
  const out = fs.createWriteStream(partial, { flags: 'w', mode: PRIVATE_FILE_MODE });
  await pipeline(response.body, tap, out);
  const handle = await fs.promises.open(partial, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  const expectedSize = Number(response.headers['content-length']);
  if (Number.isFinite(expectedSize) && expectedSize !== size) throw new RideShareError('INTEGRITY', `the answer was cut short: ${size} of ${expectedSize} bytes`);
  const manifest = manifestFromHeaders(response.headers, size);
  const received = hash.digest('hex');
  if (received !== manifest.sha256) throw new RideShareError('INTEGRITY', `SHA-256 of the received file ${received} does not match the orchestrator's ${manifest.sha256}`);
  return { kind: 'file', manifest };
}
