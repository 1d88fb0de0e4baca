/**
 * What the Docker engine says about a container, and only that: a container is dead when the
 * engine says it is not running (or no longer exists), never because a question went unanswered.
 * An engine error is an error; the caller asks again.
 */
import os from 'node:os';
import type Docker from 'dockerode';
import { sleep } from '../../shared/timeout.ts';
import type { WorkerExit } from './WorkerRuntime.ts';

export type ContainerState = { kind: 'running'; pid: number } | { kind: 'stopped'; exitCode: number | null } | { kind: 'removed' };

/** One inspect; rejects on an engine error (a timeout, a 500), which says nothing about the container. */
export async function containerState(docker: Docker, containerId: string): Promise<ContainerState> {
  try {
    const { State } = await docker.getContainer(containerId).inspect();
    return State.Running ? { kind: 'running', pid: State.Pid } : { kind: 'stopped', exitCode: State.ExitCode ?? null };
  } catch (error) {
    // Removed: whatever ran in it was killed on the way out.
    if (statusOf(error) === 404) return { kind: 'removed' };
    throw error;
  }
}

export interface RetryOptions {
  attempts: number;
  delayMs: number;
}

/** Retries `call` through engine errors; the last error is thrown once the attempts are spent. */
export async function retried<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= options.attempts) throw error;
      await sleep(options.delayMs * attempt);
    }
  }
}

/** A container killed by signal N exits with 128 + N; reported as a process runtime would. */
export function describeExit(exitCode: number | null): Pick<WorkerExit, 'code' | 'signal'> {
  const signal = exitCode !== null && exitCode > 128 ? Object.entries(os.constants.signals).find(([, number]) => number === exitCode - 128)?.[0] : undefined;
  return signal ? { code: null, signal } : { code: exitCode, signal: null };
}

/** Docker multiplexes a non-TTY container's stdout and stderr in frames: 8-byte header, then the payload. */
export function demux(buffer: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let offset = 0; offset + 8 <= buffer.length; offset += 8 + buffer.readUInt32BE(offset + 4)) {
    parts.push(buffer.subarray(offset + 8, offset + 8 + buffer.readUInt32BE(offset + 4)));
  }
  return Buffer.concat(parts);
}

export function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'statusCode' in error ? Number((error as { statusCode: unknown }).statusCode) : undefined;
}
