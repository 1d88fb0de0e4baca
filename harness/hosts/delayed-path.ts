/**
 * A slow path between two hosts for one port: a delay proxy (delay-proxy-main.ts) running inside
 * the `from` host, which forwards to `to`:port by name with the delay added to each direction.
 * Clients in `from` that use the proxy's endpoint instead of `to`:port see the slow path; every
 * other path stays as it was. Stopping it closes the proxy's connections.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RideShareError } from '../../src/shared/errors.ts';
import { isAlive, terminate } from '../../src/shared/processes.ts';

export interface DelayedPathOptions {
  from: string;
  to: string;
  port: number;
  /** Added to each direction: a round trip through the path takes at least twice this. */
  delayMs: number;
  /** Where in `from` the proxy listens: default 127.0.0.1 and a free port. */
  listenHost?: string;
  listenPort?: number;
}

export interface DelayedPath {
  /** What a client in `from` connects to instead of `to`:port. */
  host: string;
  port: number;
  pid: number;
  /** How long the proxy took to start accepting. */
  startMs: number;
  stop(): Promise<number>;
}

export type SpawnInHost = (host: string, argv: string[], options: { cwd: string }) => ChildProcess;

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PROXY_MAIN = path.join(REPO, 'harness/hosts/delay-proxy-main.ts');
const START_TIMEOUT_MS = 15_000;

export async function openDelayedPath(spawnIn: SpawnInHost, options: DelayedPathOptions): Promise<DelayedPath> {
  const listenHost = options.listenHost ?? '127.0.0.1';
  const began = performance.now();
  const argv = ['node', '--import', 'tsx', PROXY_MAIN, '--listen', `${listenHost}:${options.listenPort ?? 0}`, '--target', `${options.to}:${options.port}`, '--delay', String(options.delayMs)];
  const child = spawnIn(options.from, argv, { cwd: REPO });
  const port = await listeningPort(child);
  const pid = child.pid as number;
  return {
    host: listenHost,
    port,
    pid,
    startMs: performance.now() - began,
    stop: async () => {
      const start = performance.now();
      await terminate({ signal: (signal) => child.kill(signal), alive: () => child.exitCode === null && child.signalCode === null && isAlive(pid), graceMs: 2000 });
      return performance.now() - start;
    },
  };
}

function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    let errors = '';
    const timer = setTimeout(() => fail(`the delay proxy did not start within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new RideShareError('INTERNAL', `${why}${errors ? `: ${errors.trim()}` : ''}`));
    };
    child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^listening (\d+)$/m.exec(output);
      if (!match) return;
      clearTimeout(timer);
      resolve(Number(match[1]));
    });
    child.once('exit', (code, signal) => fail(`the delay proxy exited (${signal ?? `code ${code}`}) before it listened`));
    child.once('error', (error) => fail(error.message));
  });
}
