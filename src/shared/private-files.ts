/**
 * What the system writes is for the user that runs it alone: DATA_DIR holds the secrets, every
 * row of the database (password hashes included), backups on their way and the logs. Every entry
 * point that uses DATA_DIR makes it 0700, or tightens one made otherwise (by `npm run restore`,
 * by hand, by Docker), and sets a process umask of 0o077 so that whatever it or its libraries
 * create (SQLite's -wal and -shm, temp copies, log files) is 0600 or 0700 from the start.
 */
import fs from 'node:fs';

/** Owner only: read, write and enter. */
export const PRIVATE_DIR_MODE = 0o700;
/** Owner only: read and write. */
export const PRIVATE_FILE_MODE = 0o600;
/** Takes every permission away from group and others for whatever this process creates. */
export const PRIVATE_UMASK = 0o077;

/** The process umask every entry point sets first; children it spawns inherit it. */
export function keepFilesPrivate(): void {
  process.umask(PRIVATE_UMASK);
}

export type PrivateDirOutcome =
  | { kind: 'made' | 'private' | 'absent' }
  /** It was open to others; `from` is its mode before, in octal. */
  | { kind: 'tightened'; from: string }
  /** It is open to others and this process may not change that (another owner). */
  | { kind: 'refused'; from: string; reason: string };

export interface PrivateDirOptions {
  /** Make it when missing (default true); false leaves a missing one missing (`npm run backup` only reads it). */
  create?: boolean;
}

/** Makes `dir` 0700, or tightens it to 0700 when group or others have any permission on it. */
export function securePrivateDir(dir: string, options: PrivateDirOptions = {}): PrivateDirOutcome {
  let mode: number;
  try {
    mode = fs.statSync(dir).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (options.create === false) return { kind: 'absent' };
    fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    // mkdir's mode passes through the umask, and parents it made get 0777 & ~umask: set it exactly.
    fs.chmodSync(dir, PRIVATE_DIR_MODE);
    return { kind: 'made' };
  }
  if (mode === PRIVATE_DIR_MODE) return { kind: 'private' };
  const from = mode.toString(8).padStart(4, '0');
  try {
    fs.chmodSync(dir, PRIVATE_DIR_MODE);
  } catch (error) {
    return { kind: 'refused', from, reason: (error as Error).message };
  }
  return { kind: 'tightened', from };
}

/** Where an entry point tells what it did: its logger, or a command-line tool's stderr. */
export interface PrivateDirListener {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * securePrivateDir, telling `listener` once when it tightened the folder (the next start finds it
 * private and says nothing) or could not.
 */
export function secureDataDir(dir: string, listener: PrivateDirListener, options: PrivateDirOptions = {}): PrivateDirOutcome {
  const outcome = securePrivateDir(dir, options);
  if (outcome.kind === 'tightened') listener.info(`tightened ${dir} from ${outcome.from} to 0700: it holds secrets and data for this user alone`);
  if (outcome.kind === 'refused') listener.warn(`${dir} is ${outcome.from}, open to other local users, and could not be made 0700 (${outcome.reason}): chmod 700 it as its owner`);
  return outcome;
}

/** Written under another name, synced and renamed; 0600, as everything of a cluster's data. */
export function writeFileAtomically(file: string, content: string): void {
  const partial = `${file}.partial-${process.pid}`;
  fs.rmSync(partial, { force: true });
  const fd = fs.openSync(partial, 'w', PRIVATE_FILE_MODE);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(partial, file);
}
