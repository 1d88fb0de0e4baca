import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BootHangSign } from '../../src/infra/boot-hang-sign.ts';

const SIGN = '2026-12-07 19:23:37.803910+00:00 [info] <0.473.0> Global hang workaround: global state on rabbit@rides seems broken\n';
const BOOT_STEP = '2026-12-07 19:23:17.756790+00:00 [info] <0.242.0> Running boot step database defined by app rabbit\n';

describe('the sign of a RabbitMQ boot stuck for good', () => {
  let dir: string;
  let log: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rs-boot-hang-'));
    log = path.join(dir, 'rabbit@users.log');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('counts only what the node wrote since the last start, and reads a rotated log from its start', async () => {
    await writeFile(log, `${BOOT_STEP}${SIGN}`);
    const sign = new BootHangSign(log);
    await sign.mark();
    expect(await sign.seen()).toBe(false);
    await appendFile(log, BOOT_STEP);
    expect(await sign.seen()).toBe(false);
    await appendFile(log, SIGN);
    expect(await sign.seen()).toBe(true);
    await sign.mark();
    expect(await sign.seen()).toBe(false);
    // Rotated: a new, shorter file in its place.
    await writeFile(log, SIGN);
    expect(await sign.seen()).toBe(true);
  });

  it('sees nothing while the log does not exist yet', async () => {
    const sign = new BootHangSign(log);
    await sign.mark();
    expect(await sign.seen()).toBe(false);
    await writeFile(log, BOOT_STEP);
    expect(await sign.seen()).toBe(false);
  });
});
