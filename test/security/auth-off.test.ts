/**
 * RIDESHARE_AUTH=off is for replays of the 2020 graders only: every process that starts with it
 * says so loudly (a warning at start-up), and with tokens on none of them warns.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../../harness/replicas.ts';
import { entryPoint, nodeArgs } from '../../src/shared/entry-points.ts';

const ENTRIES = ['services/gateway/main.ts', 'services/users/main.ts', 'services/rides/main.ts', 'dbaas/orchestrator/main.ts'];

describe('RIDESHARE_AUTH at start-up', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-auth-off-'));
  const started: ChildProcess[] = [];

  afterAll(() => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** The process's output until `seen` holds (or it exits), then it is killed. */
  async function startupOutput(entry: string, auth: 'on' | 'off', seen: (output: string) => boolean): Promise<string> {
    const port = String(20_000 + Math.floor(Math.random() * 30_000));
    const child = spawn(process.execPath, nodeArgs(entryPoint(entry)), {
      env: {
        ...process.env,
        RIDESHARE_AUTH: auth,
        DATA_DIR: dataDir,
        LOG_LEVEL: 'info',
        // Nothing answers there: the warning comes before any connection is tried.
        AMQP_URL: 'amqp://127.0.0.1:1',
        ZK_CONNECT: '127.0.0.1:1',
        ORCHESTRATOR_PORT: port,
        GATEWAY_PORT: port,
        USERS_PORT: port,
        RIDES_PORT: port,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(child);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let ended = false;
    void exited.then(() => (ended = true));
    await until(() => (seen(output) || ended ? true : undefined), 30_000, `${entry} to start`);
    child.kill('SIGKILL');
    await exited;
    return output;
  }

  const warned = (output: string) => output.split('\n').some((line) => line.includes('"level":40') && line.includes('RIDESHARE_AUTH=off'));

  it.each(ENTRIES)('%s warns when it starts with RIDESHARE_AUTH=off', async (entry) => {
    const output = await startupOutput(entry, 'off', warned);
    expect(warned(output), output.slice(0, 2000)).toBe(true);
  });

  it.each(ENTRIES)('%s does not warn with tokens on', async (entry) => {
    // The line after the start-up settings: the warning would have come before it.
    const output = await startupOutput(entry, 'on', (text) => text.includes('bearer tokens required by the database service'));
    expect(output).toContain('bearer tokens required by the database service');
    expect(warned(output)).toBe(false);
  });
});
