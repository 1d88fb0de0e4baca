/**
 * A node process the test talks to a line at a time: each line written to its stdin is answered
 * by one line on its stdout (the clock probes of the clock tests, run under a faked wall clock).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LineChild {
  /** The next line it writes. */
  next(): Promise<string>;
  /** Writes a line and resolves with its answer, parsed as JSON. */
  ask<T>(line?: string): Promise<T>;
  kill(): void;
}

export function spawnLineChild(nodeArgs: readonly string[], env: Record<string, string>): LineChild {
  const child = spawn(process.execPath, [...nodeArgs], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done) throw new Error('the child process ended');
    return line.value as string;
  };
  return {
    next,
    ask: async <T>(line = 'now') => {
      child.stdin.write(`${line}\n`);
      return JSON.parse(await next()) as T;
    },
    kill: () => child.kill('SIGKILL'),
  };
}
