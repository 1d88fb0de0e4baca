/**
 * The fault harness's own tools, before a fault kind blames the service: the fake clock an
 * orchestrator is started with (clock-step) shifts Date in that process only, follows its file,
 * and leaves monotonic time alone; the small disk (disk-full) really refuses writes once filled,
 * gives the space back when freed, and comes off when unmounted.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLOCK_FILE_VARIABLE, CLOCK_MODULE, setClockOffset } from '../../harness/faults/clock-offset.ts';
import { SmallDisk } from '../../harness/faults/small-disk.ts';
import { until } from '../../harness/replicas.ts';
import { PROJECT_ROOT } from '../../src/shared/entry-points.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-fault-tools-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Prints, every 50 ms, how far Date.now() and new Date() are from the true time, and whether Date still works as Date. */
const PROBE = `
const truth = () => performance.timeOrigin + performance.now();
setInterval(() => {
  const parts = new Date(2020, 0).getTime() === Date.UTC(2020, 0) + new Date(2020, 0).getTimezoneOffset() * 60000;
  console.log(JSON.stringify({ now: Math.round(Date.now() - truth()), date: Math.round(new Date().getTime() - truth()), parts, isDate: new Date() instanceof Date }));
}, 50);
`;

describe('the fake clock of clock-step', () => {
  it('shifts Date.now() and new Date() by the file, follows it on SIGUSR2, and keeps explicit dates', async () => {
    const file = path.join(dir, 'clock');
    setClockOffset(file, 30_000);
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', CLOCK_MODULE, '-e', PROBE], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, [CLOCK_FILE_VARIABLE]: file },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const seen: { now: number; date: number; parts: boolean; isDate: boolean }[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) seen.push(JSON.parse(line));
    });
    try {
      const ahead = await until(() => seen.at(-1), 20_000, 'the first line');
      expect(Math.abs(ahead.now - 30_000)).toBeLessThan(200);
      expect(Math.abs(ahead.date - 30_000)).toBeLessThan(200);
      expect(ahead).toMatchObject({ parts: true, isDate: true });
      setClockOffset(file, -30_000, child.pid);
      const behind = await until(
        () => {
          const last = seen.at(-1);
          return last && last.now < 0 ? last : undefined;
        },
        2000,
        'the step back',
      );
      expect(Math.abs(behind.now + 30_000)).toBeLessThan(200);
      expect(Math.abs(behind.date + 30_000)).toBeLessThan(200);
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);

  it('leaves the clock true without the variable (workers never get it)', async () => {
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--import', CLOCK_MODULE, '-e', 'console.log(Math.round(Date.now() - (performance.timeOrigin + performance.now())))'], {
      cwd: PROJECT_ROOT,
      env: Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== CLOCK_FILE_VARIABLE)),
    });
    expect(Math.abs(Number(output.toString().trim()))).toBeLessThan(200);
  }, 30_000);
});

describe.skipIf(process.getuid?.() !== 0)('the small disk of disk-full (root: it mounts a tmpfs)', () => {
  it('refuses writes once filled, takes them again once freed, and comes off when unmounted', () => {
    const disk = new SmallDisk(path.join(dir, 'workers'), 4 * 1024 * 1024);
    disk.mount();
    try {
      expect(fs.readFileSync('/proc/mounts', 'utf8')).toContain(disk.dir);
      const before = disk.freeBytes();
      expect(disk.fill()).toBeGreaterThan(before - 64 * 1024);
      expect(() => fs.writeFileSync(path.join(disk.dir, 'a.db'), Buffer.alloc(64 * 1024))).toThrow(/ENOSPC/);
      disk.free();
      fs.writeFileSync(path.join(disk.dir, 'a.db'), Buffer.alloc(64 * 1024));
    } finally {
      disk.unmount();
    }
    expect(disk.mounted).toBe(false);
    expect(fs.readFileSync('/proc/mounts', 'utf8')).not.toContain(disk.dir);
  });
});
