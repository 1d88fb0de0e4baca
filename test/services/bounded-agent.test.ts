/**
 * A request to a host that never answers a connection (its SYNs dropped, as for a crashed or
 * cut-off host) ends within its own time on boundedAgent, where the global dispatcher waits out
 * undici's 10 s connect timeout whatever the request's AbortSignal says.
 *
 * The silent host is a listening socket whose accept queue is full and never drained (python3,
 * which the build needs anyway): Linux then drops further SYNs, so a connection neither succeeds
 * nor is refused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { boundedAgent } from '../../src/shared/http/bounded-agent.ts';

const SILENT_LISTENER = `
import socket, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
fill = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(s.getsockname())
    except BlockingIOError: pass
    fill.append(c)
print(s.getsockname()[1], flush=True)
sys.stdin.read()  # until this test's process closes the pipe, however it ends
`;

let listener: ChildProcess | undefined;
let port = 0;

beforeAll(async () => {
  listener = spawn('python3', ['-c', SILENT_LISTENER], { stdio: ['pipe', 'pipe', 'inherit'] });
  port = await new Promise<number>((resolve, reject) => {
    listener?.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    listener?.once('exit', (code) => reject(new Error(`the silent listener exited (${code})`)));
  });
});

afterAll(() => {
  listener?.kill('SIGKILL');
});

it('ends a request to a host that never answers a connection within its time, again and again', async () => {
  const took: number[] = [];
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const began = performance.now();
    await expect(request(`http://127.0.0.1:${port}/health`, { dispatcher: boundedAgent(500), signal: AbortSignal.timeout(500) })).rejects.toThrow();
    took.push(performance.now() - began);
  }
  // Well under the 10 s the global dispatcher takes here, and about the 500 ms asked.
  expect(Math.max(...took), took.join(', ')).toBeLessThan(2500);
});
