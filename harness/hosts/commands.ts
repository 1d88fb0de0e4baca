/**
 * The bed's one way of running the machine's tools (ip, nft, apt-get): argv only, never a shell
 * line, bounded in time, and a failure that names the command and what it printed. The
 * synchronous forms exist for teardown, which must also run inside an 'exit' handler.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { RideShareError } from '../../src/shared/errors.ts';

const execFileP = promisify(execFile);

export interface RunOptions {
  /** Written to the command's stdin (nft -f -). */
  input?: string;
  timeoutMs?: number;
}

function failure(argv: readonly string[], error: unknown): RideShareError {
  const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
  return new RideShareError('INTERNAL', `${argv.join(' ')} failed: ${stderr || (error as Error).message}`, { cause: error });
}

export async function run(argv: readonly string[], options: RunOptions = {}): Promise<string> {
  const [command, ...args] = argv as [string, ...string[]];
  try {
    if (options.input === undefined) {
      const { stdout } = await execFileP(command, args, { timeout: options.timeoutMs ?? 30_000, killSignal: 'SIGKILL' });
      return stdout;
    }
    return await withInput(command, args, options.input, options.timeoutMs ?? 30_000);
  } catch (error) {
    throw failure(argv, error);
  }
}

function withInput(command: string, args: string[], input: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(error, { stderr }));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

export function runSync(argv: readonly string[], options: RunOptions = {}): string {
  const [command, ...args] = argv as [string, ...string[]];
  try {
    return execFileSync(command, args, { input: options.input, timeout: options.timeoutMs ?? 30_000, killSignal: 'SIGKILL', stdio: ['pipe', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (error) {
    throw failure(argv, error);
  }
}

/** For teardown: what is already gone is not an error. */
export function attemptSync(argv: readonly string[]): boolean {
  try {
    runSync(argv);
    return true;
  } catch {
    return false;
  }
}
