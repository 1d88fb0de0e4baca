import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, post, put, request } from '../../harness/http.ts';
import { until } from '../../harness/replicas.ts';
import type { ClusterStatus } from '../../src/dbaas/orchestrator/ClusterStatus.ts';
import { CONSOLE_FILES_DIR, consoleAssets } from '../../src/dbaas/orchestrator/console/pages.ts';
import { copyAssets } from '../../scripts/copy-assets.mjs';
import { SseClient } from '../../harness/console/sse-client.ts';

const statusOf = (data: string) => JSON.parse(data) as ClusterStatus;

describe('the console against a real cluster: the stream, the slave count, the page', () => {
  let service: DatabaseServiceHandle;
  let standby: DatabaseServiceHandle | undefined;
  let stream: SseClient | undefined;
  const url = (suffix: string) => `${service.orchestratorUrl}${suffix}`;

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1 });
  });
  afterAll(async () => {
    stream?.close();
    await standby?.stop();
    await service?.stop();
  });

  it('streams the whole status at once, and the failover after a crash of the master', async () => {
    const opened = await SseClient.open(url('/api/v1/cluster/stream'));
    if (!(opened instanceof SseClient)) throw new Error(`stream refused: ${opened.status} ${opened.body}`);
    stream = opened;
    const first = statusOf((await stream.next((event) => event.event === 'status', 10_000)).data);
    expect(first.cluster).toBe(service.cluster);
    expect(first.workers.map((worker) => worker.role).sort()).toEqual(['master', 'slave']);
    expect(first.reads.total).toBe(0);

    const seen = stream.events.length;
    const [killed] = (await post<number[]>(url('/api/v1/crash/master'))).body;
    const failedOver = await stream.next((event) => event.event === 'status' && statusOf(event.data).events.some((item) => item.kind === 'failover'), 15_000, seen);
    const after = statusOf(failedOver.data);
    const failover = after.events.find((item) => item.kind === 'failover');
    expect(failover).toMatchObject({ reason: `master pid ${killed}: crash-api` });
    // The status that tells the failover has the new master, not the killed one.
    await stream.next((event) => event.event === 'status' && statusOf(event.data).master?.pid === failover?.pid, 10_000, seen);
  });

  it('counts reads in the status, for the live read rate', async () => {
    await until(async () => ((await get(url('/ready'))).status === 200 ? true : undefined), 20_000, 'ready after the failover');
    for (let i = 0; i < 5; i += 1) expect((await post(url('/api/v1/db/read'), { table: 'users' })).status).toBe(200);
    const seen = stream!.events.length - 1;
    await stream!.next((event) => event.event === 'status' && statusOf(event.data).reads.total >= 5, 5000, Math.max(0, seen));
  });

  it('PUT /api/v1/scaling/slaves sets the desired slaves, told in the history and the stream', async () => {
    const answer = await put<{ desiredSlaves: number; previous: number }>(url('/api/v1/scaling/slaves'), { slaves: 2 });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ desiredSlaves: 2, previous: 1 });
    const grown = await stream!.next((event) => {
      const status = statusOf(event.data);
      return status.slaves.desired === 2 && status.slaves.ready === 2 && status.events.some((item) => item.kind === 'slaves-set');
    }, 30_000);
    const set = statusOf(grown.data).events.find((item) => item.kind === 'slaves-set');
    expect(set).toMatchObject({ slavesBefore: 1, slavesAfter: 2 });
    expect((await get<{ desiredSlaves: number; maxSlaves: number }>(url('/api/v1/scaling'))).body).toMatchObject({ desiredSlaves: 2, maxSlaves: 8 });
  });

  it('refuses a bad slave count with a 400 that says what is wrong', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ slaves: -1 }, /integer from 0 to 8/],
      [{ slaves: 9 }, /integer from 0 to 8 \(MAX_SLAVES\)/],
      [{ slaves: 1.5 }, /integer/],
      [{ slaves: '2' }, /integer/],
      [{}, /slaves is missing/],
      [{ slaves: 1, extra: true }, /unknown field: extra/],
      [[2], /JSON object/],
    ];
    for (const [body, message] of bad) {
      const answer = await put<{ error: string; code: string }>(url('/api/v1/scaling/slaves'), body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.code).toBe('BAD_REQUEST');
      expect(answer.body.error).toMatch(message);
    }
    const notJson = await request<{ code: string }>('PUT', url('/api/v1/scaling/slaves'), { raw: '{slaves', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).toBe(400);
    const wrongMethod = await post(url('/api/v1/scaling/slaves'), { slaves: 1 });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('PUT');
  });

  it('a standby orchestrator passes the slave count to the supervising one', async () => {
    standby = await startDatabaseService({ cluster: service.cluster, dataDir: service.dataDir, slaves: 1 });
    expect(standby.orchestrator.isSupervising).toBe(false);
    const passed = await put<{ desiredSlaves: number; previous: number }>(`${standby.orchestratorUrl}/api/v1/scaling/slaves`, { slaves: 1 });
    expect(passed.status).toBe(200);
    expect(passed.body).toEqual({ desiredSlaves: 1, previous: 2 });
    // A call already passed on once is answered where it lands: the standby names the supervisor.
    const refused = await request<{ error: string }>('PUT', `${standby.orchestratorUrl}/api/v1/scaling/slaves`, {
      json: { slaves: 1 },
      headers: { 'x-rideshare-forwarded-by': 'elsewhere' },
    });
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatch(new RegExp(`supervising one is pid ${process.pid}: send scaling calls there`));
  });

  it('serves the page and its files with their content types; any other name is a 404', async () => {
    const page = await get(url('/console'));
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.text).toContain('<title>RideShare · operator console</title>');
    const referenced = [...page.text.matchAll(/"\/console\/assets\/([^"]+)"/g)].map((match) => match[1]);
    expect(referenced).toEqual(expect.arrayContaining(['uPlot.iife.min.js', 'uPlot.min.css', 'console.css', 'app.js']));
    const types: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' };
    for (const name of referenced) {
      const asset = await get(url(`/console/assets/${name}`));
      expect(asset.status, name).toBe(200);
      expect(asset.headers['content-type']).toBe(types[name!.split('.').pop()!]);
      expect(asset.headers['x-content-type-options']).toBe('nosniff');
    }
    expect((await get(url('/console/assets/uPlot.iife.min.js'))).text).toContain('uPlot');
    expect((await get(url('/console/'))).status).toBe(302);
    for (const name of ['..%2F..%2Fpackage.json', '%2e%2e%2fpages.ts', 'pages.ts', 'index.html', 'nope.js']) {
      const missing = await get<{ code: string }>(url(`/console/assets/${name}`));
      expect(missing.status, name).toBe(404);
      expect(missing.body.code).toBe('NOT_FOUND');
    }
    expect((await get(url('/console/assets/../../package.json'))).status).toBe(404);
    expect((await post(url('/console'))).status).toBe(405);
  });
});

describe('the console files in both layouts', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));

  it('every module the page loads is one of its files', () => {
    const assets = consoleAssets();
    const html = fs.readFileSync(path.join(CONSOLE_FILES_DIR, 'index.html'), 'utf8');
    const wanted = new Set([...html.matchAll(/\/console\/assets\/([^"]+)"/g)].map((match) => match[1]!));
    for (const [name, file] of assets) {
      if (!name.endsWith('.js') || name.startsWith('uPlot')) continue;
      for (const match of fs.readFileSync(file, 'utf8').matchAll(/from '\.\/([^']+)'/g)) wanted.add(match[1]!);
    }
    for (const name of wanted) expect(assets.has(name), name).toBe(true);
  });

  it('scripts/build.mjs puts them beside the compiled module in dist/', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-assets-'));
    try {
      const copied = copyAssets(path.join(root, 'src'), out);
      const relative = path.relative(path.join(root, 'src'), CONSOLE_FILES_DIR);
      expect(copied).toContain(path.join(relative, 'index.html'));
      expect(copied.every((file) => !file.endsWith('.ts'))).toBe(true);
      const built = consoleAssets(path.join(out, relative));
      expect([...built.keys()].sort()).toEqual([...consoleAssets().keys()].sort());
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
