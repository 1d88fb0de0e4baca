/**
 * Issue-level figure of auto-scaling: seconds from a window's end until the new slaves serve,
 * for 1 → 3 slaves with 100,000 rides stored (medians of `--runs`, default 5).
 * `npx tsx bench/scaling.ts [--runs N]`
 */
import { loadConfig } from '../src/shared/config.ts';
import { clusterSettingsFrom } from '../src/dbaas/settings/ClusterSettings.ts';
import { workerTuningFrom } from '../src/dbaas/settings/WorkerTuning.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Orchestrator } from '../src/dbaas/orchestrator/Orchestrator.ts';
import { ProcessRuntime } from '../src/dbaas/runtime/ProcessRuntime.ts';
import { ensureRabbitMq, ensureZooKeeper } from '../src/infra/servers.ts';
import { createLogger } from '../src/shared/logger.ts';
import { loadClient, median } from './lib/load.ts';
import { freePort } from './lib/system.ts';

const WINDOW_MS = 6000;
const RIDES = 100_000;

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

interface Decision {
  windowEnd: string;
  slavesAfter: number;
}

async function main(): Promise<void> {
  const runs = option('runs', 5);
  const logger = createLogger('bench', 'warn');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-bench-scaling-'));
  const rabbit = await ensureRabbitMq({ dataDir, logger });
  const zookeeper = await ensureZooKeeper({ dataDir, logger });
  const cluster = `bench-scaling-${Date.now().toString(36)}`;
  const config = loadConfig({ LOG_LEVEL: 'warn', RIDESHARE_CLUSTER: cluster, AMQP_URL: rabbit.address, ZK_CONNECT: zookeeper.address });
  const orchestrator = new Orchestrator({
    port: await freePort(),
    ...clusterSettingsFrom(config),
    dataDir,
    // The benchmarks measure the database service itself: no tokens between them and it.
    auth: { enabled: false },
    rpcTimeoutMs: 10_000,
    sessionTimeoutMs: 4000,
    initialSlaves: 1,
    runtime: new ProcessRuntime({ cluster, logDir: path.join(dataDir, 'logs'), logger }),
    workerTuning: workerTuningFrom(config),
    scaling: { windowMs: WINDOW_MS, readsPerSlave: 20, maxSlaves: 8 },
    logger,
  });
  await orchestrator.start();
  const client = loadClient(`http://127.0.0.1:${new URL(orchestrator.url).port}`);
  try {
    await client.post('/api/v1/db/write', { op: 'insert', table: 'users', values: { username: 'bench', password: 'a'.repeat(40) } });
    for (let stored = 0; stored < RIDES; stored += 1000) {
      const rows = Array.from({ length: 1000 }, (_, i) => ({ created_by: 'bench', timestamp: 2_000_000_000 + stored + i, source: 1 + (i % 198), destination: 2 }));
      await client.post('/api/v1/db/write', { op: 'insert', table: 'rides', rows });
    }
    const snapshotBytes = fs.statSync(path.join(dataDir, 'workers', fs.readdirSync(path.join(dataDir, 'workers')).find((f) => f.endsWith('.db')) as string)).size;
    const seconds: number[] = [];
    const decisions = async () => ((await client.get('/api/v1/scaling')).body as { decisions: Decision[] }).decisions;
    const readySlaves = async () => (await orchestrator.workers()).filter((worker) => worker.role === 'slave' && worker.ready).length;
    for (let run = 0; run < runs; run += 1) {
      while ((await readySlaves()) !== 1 || (await orchestrator.workers()).length !== 2) await sleep(100);
      const seen = (await decisions()).length;
      await Promise.all(Array.from({ length: 41 }, () => client.post('/api/v1/db/read', { table: 'users' })));
      let decision: Decision | undefined;
      while (!decision) {
        decision = (await decisions())[seen];
        if (!decision) await sleep(20);
      }
      if (decision.slavesAfter !== 3) throw new Error(`expected a decision for 3 slaves, got ${JSON.stringify(decision)}`);
      while ((await readySlaves()) < 3) await sleep(20);
      const elapsed = (Date.now() - Date.parse(decision.windowEnd)) / 1000;
      seconds.push(elapsed);
      process.stdout.write(`run ${run + 1}: 3 slaves serving ${elapsed.toFixed(2)} s after the window's end\n`);
      // The next window is idle (fewer than 20 reads): back to one slave for the next run.
      const next = (await decisions()).length;
      while ((await decisions()).length <= next) await sleep(100);
    }
    process.stdout.write(
      `\n## Auto-scaling\n\nwindow's end → 3 slaves serving (1 → 3, ${RIDES} rides, database file ${(snapshotBytes / 1e6).toFixed(1)} MB): ` +
        `median ${median(seconds).toFixed(2)} s over ${runs} runs (${seconds.map((value) => value.toFixed(2)).join(', ')})\n`,
    );
  } finally {
    await client.close();
    await orchestrator.stop();
    await zookeeper.stop();
    await rabbit.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
