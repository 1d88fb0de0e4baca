/**
 * A helper process of a benchmark (an echo replier, a floor server): a TypeScript file run through
 * tsx, whose first message to its parent says it is ready (and what it has to tell, e.g. its port).
 * Stopping it waits until it is gone, so a measurement that follows never shares the cores with it.
 */
import { fork } from 'node:child_process';

export interface BenchChild {
  pid: number;
  /** Ends the process and waits for it to be gone. */
  stop(): Promise<void>;
}

/**
 * Forks a bench helper (a TypeScript file run through tsx) and waits for its first message, which
 * is its value; a child that exits first fails the start.
 */
export async function forkBenchChild<T>(file: string, args: string[]): Promise<BenchChild & { first: T }> {
  const child = fork(file, args, { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const first = await new Promise<T>((resolve, reject) => {
    child.once('message', (message) => resolve(message as T));
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return { pid: child.pid as number, first, stop };
}
