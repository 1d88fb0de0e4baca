/**
 * Access lines to standard output leave in batches (src/shared/access-log.ts), yet none is lost
 * when the process exits right after writing them, and a lone line still shows within a moment.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../src/shared/processes.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/access-lines.ts', import.meta.url));

function run(count: number, after: 'exit' | 'stay') {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, String(count), after], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  let rest = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) if (part) lines.push(JSON.parse(part) as Record<string, unknown>);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, lines, exited };
}

describe('buffered access lines', () => {
  it('every line written before an immediate exit reaches standard output', async () => {
    const { lines, exited } = run(500, 'exit');
    expect(await exited).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.filter((line) => line.msg === 'request')).toHaveLength(500);
    expect(lines[499]).toMatchObject({ reqId: 'r-499', component: 'access-fixture', status: 200, level: 30, pid: expect.any(Number) });
  });

  it('a lone line shows within a second while the process stays up', async () => {
    const { child, lines, exited } = run(1, 'stay');
    try {
      // The fixture's start (the tsx loader) takes a moment on a busy machine; the line must follow it closely.
      await waitFor(() => lines.length > 0, 8000, 20);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ reqId: 'r-0', msg: 'request' });
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  }, 15_000);
});
