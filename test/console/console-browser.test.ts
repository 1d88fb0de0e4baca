/**
 * The operator console end to end in headless Chromium (Debian's chromium, driven by
 * playwright-core), with bearer tokens on: the page shows the two workers, the actions are
 * refused without the admin token, crash master is pressed with it (the confirmation accepted), the failover appears in the timeline within seconds with a new master card; the
 * desired slaves are set from the page; then a little read load gives the autoscaler decisions to
 * draw, and a screenshot is saved in .artifacts/console.png. Skips, saying why, only when Chromium is not installed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { post } from '../../harness/http.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../.artifacts/', import.meta.url));
const available = fs.existsSync(CHROMIUM);
if (!available) console.warn(`[console-browser] skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium, as .ci/run does)`);

/** The flags that keep Chromium from reaching for hosts it cannot reach here (../shared/INFRA-NOTES.md §8). */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!available)('the operator console in headless Chromium', () => {
  let service: DatabaseServiceHandle;
  let browser: Browser | undefined;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    // The browser first: its start loads both cores, which could stall a running cluster's
    // ZooKeeper sessions (1 s in tests).
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    // Short scaling windows, so the chart has decisions to draw within seconds; bearer tokens on,
    // as in production, so the actions need the admin token.
    service = await startDatabaseService({ slaves: 1, scaling: { windowMs: 4000, readsPerSlave: 10, maxSlaves: 3 }, env: { RIDESHARE_AUTH: 'on' } });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('dialog', (dialog) => void dialog.accept());
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    // The refusals the test provokes on purpose (no or a wrong admin token) are logged by the browser too.
    const provoked = /Failed to load resource: the server responded with a status of 401/;
    page.on('console', (message) => message.type() === 'error' && !provoked.test(message.text()) && problems.push(`console: ${message.text()}`));
  });

  afterAll(async () => {
    try {
      await browser?.close();
    } finally {
      await service?.stop();
    }
  });

  it('shows the master and the slave, live', async () => {
    await page.goto(`${service.orchestratorUrl}/console`);
    await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('.worker[data-role]').count(), { timeout: 15_000 }).toBe(2);
    expect(await page.locator('.worker.master').count()).toBe(1);
    expect(await page.locator('.worker.slave.serving').count()).toBe(1);
    expect(await page.locator('#cluster').textContent()).toBe(service.cluster);
    // Before the first read the autoscaler has nothing to draw and says why.
    expect(await page.locator('#decisions-empty').textContent()).toMatch(/clock starts at the first db\/read/);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-start.png'), fullPage: true });
  });

  it('the actions need the admin token', async () => {
    await page.locator('#crash-master').click();
    await page.locator('#feedback li.error', { hasText: 'enter the admin token first' }).waitFor({ timeout: 5000 });
    await page.locator('#admin-token').fill('not-the-token');
    await page.locator('#crash-slave').click();
    await page.locator('#feedback li.error', { hasText: 'the admin token is not valid' }).waitFor({ timeout: 5000 });
    expect(await page.locator('.worker[data-role]').count()).toBe(2);
    await page.locator('#admin-token').fill(service.tokens!.admin);
  });

  it('crash master: the failover appears in the timeline within seconds, with a new master card', async () => {
    const oldMaster = Number(await page.locator('.worker.master').getAttribute('data-pid'));
    const failoversBefore = await page.locator('#timeline li[data-kind="failover"]').count();
    const pressed = Date.now();
    await page.locator('#crash-master').click();
    await page.locator('#timeline li[data-kind="failover"]').nth(failoversBefore).waitFor({ timeout: 10_000 });
    const seenAfterMs = Date.now() - pressed;
    expect(seenAfterMs).toBeLessThan(10_000);
    await expect.poll(async () => Number(await page.locator('.worker.master').getAttribute('data-pid')), { timeout: 10_000 }).not.toBe(oldMaster);
    expect(await page.locator('#feedback li.ok').first().textContent()).toContain(`Master pid ${oldMaster} killed`);
    const failover = await page.locator('#timeline li[data-kind="failover"]').first().textContent();
    expect(failover).toContain(`master pid ${oldMaster}: crash-api`);
    // The replacement slave joins and serves: two workers again.
    await expect.poll(() => page.locator('.worker.serving').count(), { timeout: 30_000 }).toBe(2);
  });

  it('sets the desired slaves: a third worker joins', async () => {
    await page.locator('#slave-count').fill('2');
    await page.locator('#set-slaves').click();
    await page.locator('#feedback li.ok', { hasText: 'Desired slaves 1 → 2' }).waitFor({ timeout: 5000 });
    await page.locator('#timeline li[data-kind="slaves-set"]').first().waitFor({ timeout: 5000 });
    await expect.poll(() => page.locator('.worker.slave.serving').count(), { timeout: 30_000 }).toBe(2);
  });

  it('draws the autoscaler decisions and the read rate, then saves a screenshot', async () => {
    // Reads at a rate that changes every window (the autoscaler asks for 3 slaves, then 1, then
    // 2), and a few writes; the last rate goes on until the picture is taken.
    const api = (suffix: string) => `${service.orchestratorUrl}/api/v1/db/${suffix}`;
    const asService = { headers: { authorization: `Bearer ${service.tokens!.service}` } };
    let user = 0;
    const second = async (reads: number) => {
      const started = Date.now();
      const writes = Array.from({ length: 2 }, () => {
        user += 1;
        return post(api('write'), { op: 'insert', table: 'users', values: { username: `rider-${user}`, password: 'a'.repeat(40) } }, asService);
      });
      const answers = await Promise.all([...writes, ...Array.from({ length: reads }, () => post(api('read'), { table: 'users', columns: ['username'] }, asService))]);
      for (const answer of answers) expect(answer.status).toBe(200);
      await sleep(Math.max(0, 1000 - (Date.now() - started)));
    };
    for (const reads of [9, 9, 9, 9, 2, 2, 2, 2]) await second(reads);
    let loading = true;
    const steady = (async () => {
      while (loading) await second(4);
    })();
    try {
      await expect.poll(() => page.locator('#timeline li[data-kind="scaling"]').count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
      expect(await page.locator('#decisions-chart canvas').count()).toBe(1);
      expect(await page.locator('#live-chart canvas').count()).toBe(1);
      // The picture shows the cluster settled at two serving slaves, not a change under way.
      await expect.poll(() => page.locator('.worker.slave.serving').count(), { timeout: 30_000 }).toBe(2);
      await sleep(1500);
    } finally {
      loading = false;
      await steady;
    }
    const file = path.join(ARTIFACTS, 'console.png');
    await page.screenshot({ path: file, fullPage: true });
    expect(fs.statSync(file).size).toBeGreaterThan(20_000);
    // The same page on a narrow screen: one column.
    await page.setViewportSize({ width: 760, height: 1000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-narrow.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
