/**
 * A host's server kept running (src/infra/kept-server.ts), with a real process standing in for
 * the server: before `keep()` an exit is the start's failure and nothing runs again; after it, a
 * SIGKILLed server runs again with the same command, and a stopped one does not, leaving nothing;
 * restart() replaces a server whose start hangs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { KeptServer } from '../../src/infra/kept-server.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { isAlive, sendSignal, waitFor } from '../../src/shared/processes.ts';
import { staysTrue } from '../../harness/replicas.ts';

const dirs: string[] = [];
const servers: KeptServer[] = [];
const logger = createLogger('kept-server-test', 'silent');

function server(script: string): { kept: KeptServer; log: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'rs-kept-'));
  dirs.push(dir);
  const log = path.join(dir, 'out.log');
  const kept = new KeptServer({ name: 'a stand-in server', argv: [process.execPath, '-e', script], cwd: dir, logFile: log, graceMs: 2000, logger });
  servers.push(kept);
  return { kept, log };
}

const RUNS = "console.log('started', process.pid); setInterval(() => {}, 1000);";

afterEach(async () => {
  for (const kept of servers.splice(0)) await kept.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it('runs a server killed after keep() again, appending to its log, and leaves nothing once stopped', async () => {
  const { kept, log } = server(RUNS);
  const first = kept.pid;
  expect(await waitFor(() => readFileSync(log, 'utf8').includes(`started ${first}`), 5000)).toBe(true);
  kept.keep();
  sendSignal(first, 'SIGKILL');
  expect(await waitFor(() => kept.pid !== first && isAlive(kept.pid), 10_000)).toBe(true);
  const second = kept.pid;
  expect(await waitFor(() => readFileSync(log, 'utf8').includes(`started ${second}`), 5000)).toBe(true);
  expect(readFileSync(log, 'utf8')).toContain(`started ${first}`);
  expect(kept.restarts).toBe(1);
  await kept.stop();
  expect(isAlive(second)).toBe(false);
  // Stopped means stopped: nothing runs it again.
  await staysTrue(() => !isAlive(kept.pid) && kept.pid === second, 2500, 'the stopped server staying stopped');
});

it('before keep(), an exit is the failure of the start: it says so and nothing runs again', async () => {
  const { kept } = server('process.exit(3)');
  const first = kept.pid;
  expect(await waitFor(() => kept.exited() !== undefined, 5000)).toBe(true);
  expect(kept.exited()).toContain('code 3');
  await staysTrue(() => kept.pid === first, 2000, 'no second start before keep()');
});

it('restart() replaces a server whose start hangs, kept or not, once: the old one gone, the new one running, no second respawn', async () => {
  const { kept, log } = server(RUNS);
  const first = kept.pid;
  expect(await waitFor(() => readFileSync(log, 'utf8').includes(`started ${first}`), 5000)).toBe(true);
  await kept.restart();
  const second = kept.pid;
  expect(second).not.toBe(first);
  expect(isAlive(first)).toBe(false);
  expect(kept.exited()).toBeUndefined();
  expect(await waitFor(() => readFileSync(log, 'utf8').includes(`started ${second}`), 5000)).toBe(true);
  kept.keep();
  // The replaced server's exit is no crash: nothing starts a third.
  await staysTrue(() => kept.pid === second && isAlive(second), 2500, 'one server after the restart');
  expect(kept.restarts).toBe(1);
});
