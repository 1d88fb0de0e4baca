/**
 * Where a cluster node keeps its streams (src/infra/stream-data-dir.ts), on a real folder: beside
 * the database folder; a node that kept them inside it (RabbitMQ's default) has them moved, data
 * and all; one that has both keeps its own and the other is left alone.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareStreamDataDir } from '../../src/infra/stream-data-dir.ts';

const NODE = 'rabbit@db';
let nodeDir: string;

beforeEach(async () => {
  nodeDir = await mkdtemp(path.join(os.tmpdir(), 'rs-stream-dir-'));
});

afterEach(async () => {
  await rm(nodeDir, { recursive: true, force: true });
});

describe('the stream folder of a cluster node', () => {
  it('is made beside the database folder, which stays empty', async () => {
    const dir = await prepareStreamDataDir(nodeDir, NODE);
    expect(dir).toBe(path.join(nodeDir, 'stream'));
    expect(existsSync(dir)).toBe(true);
    expect(existsSync(path.join(nodeDir, 'mnesia', NODE, 'stream'))).toBe(false);
  });

  it('takes over the streams a node kept inside its database folder', async () => {
    const old = path.join(nodeDir, 'mnesia', NODE, 'stream', '__sync_log_1');
    await mkdir(old, { recursive: true });
    await writeFile(path.join(old, '00000000000000000000.segment'), 'chunks');
    const dir = await prepareStreamDataDir(nodeDir, NODE);
    expect(await readFile(path.join(dir, '__sync_log_1', '00000000000000000000.segment'), 'utf8')).toBe('chunks');
    expect(existsSync(path.join(nodeDir, 'mnesia', NODE, 'stream'))).toBe(false);
  });

  it('keeps its own folder when both exist', async () => {
    await mkdir(path.join(nodeDir, 'stream', 'mine'), { recursive: true });
    await mkdir(path.join(nodeDir, 'mnesia', NODE, 'stream', 'other'), { recursive: true });
    const dir = await prepareStreamDataDir(nodeDir, NODE);
    expect(existsSync(path.join(dir, 'mine'))).toBe(true);
    expect(existsSync(path.join(dir, 'other'))).toBe(false);
    expect(existsSync(path.join(nodeDir, 'mnesia', NODE, 'stream', 'other'))).toBe(true);
  });
});
