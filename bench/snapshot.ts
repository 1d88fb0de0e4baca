/**
 * Issue-level figures of snapshot streaming, with `--rides` rides stored (default 1,000,000):
 * 1. a new slave joining (median of `--runs`, default 3): seconds from its process start to serving
 *    reads, and the resident memory (VmRSS) of the sending slave and of the joining worker during
 *    the join and after it. The targets: under 10 s and under 250 MB;
 * 2. how each way of taking a consistent copy costs in time and in event-loop stalls, on a copy of
 *    the master's file, while a writer ticks every 5 ms (backup(), VACUUM INTO on the main thread,
 *    VACUUM INTO in a thread: the last one is what servers use).
 * `npx tsx bench/snapshot.ts [--rides N] [--runs N]`
 */
import { loadConfig } from '../src/shared/config.ts';
import { clusterSettingsFrom } from '../src/dbaas/settings/ClusterSettings.ts';
import { workerTuningFrom } from '../src/dbaas/settings/WorkerTuning.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Orchestrator } from '../src/dbaas/orchestrator/Orchestrator.ts';
import { ProcessRuntime } from '../src/dbaas/runtime/ProcessRuntime.ts';
import type { WorkerRuntime } from '../src/dbaas/runtime/WorkerRuntime.ts';
import { copySnapshot } from '../src/dbaas/replication/snapshot-copy.ts';
import { DEFAULT_SNAPSHOT_TEMP_DIR } from '../src/dbaas/replication/snapshot-temp-files.ts';
import { SNAPSHOT_DEFAULTS } from '../src/dbaas/replication/snapshot-protocol.ts';
import { ensureRabbitMq, ensureZooKeeper } from '../src/infra/servers.ts';
import { createLogger } from '../src/shared/logger.ts';
import type { HttpClient } from '../harness/http.ts';
import { loadClient, median } from './lib/load.ts';
import { freePort, residentMegabytes } from './lib/system.ts';

const MIB = 1024 * 1024;
const SAMPLE_MS = 20;
const AFTER_MS = 3000;

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const rides = option('rides', 1_000_000);
  const runs = option('runs', 3);
  const logger = createLogger('bench', 'warn');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-bench-snapshot-'));
  const rabbit = await ensureRabbitMq({ dataDir, logger });
  const zookeeper = await ensureZooKeeper({ dataDir, logger });
  const cluster = `bench-snapshot-${Date.now().toString(36)}`;
  const runtime = new ProcessRuntime({ cluster, logDir: path.join(dataDir, 'logs'), logger });
  const config = loadConfig({ LOG_LEVEL: 'warn', RIDESHARE_CLUSTER: cluster, AMQP_URL: rabbit.address, ZK_CONNECT: zookeeper.address });
  const orchestrator = new Orchestrator({
    port: await freePort(),
    ...clusterSettingsFrom(config),
    dataDir,
    // The benchmarks measure the database service itself: no tokens between them and it.
    auth: { enabled: false },
    rpcTimeoutMs: 30_000,
    sessionTimeoutMs: 4000,
    initialSlaves: 1,
    runtime,
    workerTuning: workerTuningFrom(config),
    logger,
  });
  await orchestrator.start();
  const client = loadClient(orchestrator.url, 8);
  try {
    const filled = Date.now();
    await fill(client, rides);
    say(`filled ${rides.toLocaleString('en')} rides in ${((Date.now() - filled) / 1000).toFixed(1)} s`);

    say(`\n## A new slave joins (${SNAPSHOT_DEFAULTS.chunkBytes / MIB} MiB chunks, window ${SNAPSHOT_DEFAULTS.window})\n`);
    const results: JoinResult[] = [];
    for (let run = 1; run <= runs; run += 1) {
      const result = await measureJoin(orchestrator, runtime, path.join(dataDir, 'workers'));
      results.push(result);
      say(
        `run ${run}: serving reads ${result.seconds.toFixed(2)} s after its start (snapshot ${(result.snapshotBytes / MIB).toFixed(1)} MiB from the ${result.senderRole}); ` +
          `VmRSS sender ${result.sender.before.toFixed(0)} MB before, ${result.sender.peak.toFixed(0)} MB peak during, ${result.sender.after.toFixed(0)} MB peak in the ${AFTER_MS / 1000} s after; ` +
          `joiner ${result.joiner.peak.toFixed(0)} MB peak during, ${result.joiner.after.toFixed(0)} MB after`,
      );
    }
    const peakOf = (pick: (result: JoinResult) => number) => Math.max(...results.map(pick));
    say(
      `\njoin (start → serving reads, ${rides.toLocaleString('en')} rides): median ${median(results.map((r) => r.seconds)).toFixed(2)} s over ${runs} runs; ` +
        `highest VmRSS: sender ${peakOf((r) => r.sender.peak).toFixed(0)} MB, joiner ${peakOf((r) => r.joiner.peak).toFixed(0)} MB ` +
        `(targets: 10 s, 250 MB)`,
    );

    // Last: copying on this process's main thread stalls it, and with it the orchestrator it hosts.
    const master = (await orchestrator.workers()).find((worker) => worker.role === 'master');
    if (!master) throw new Error('no master');
    say('\n## Consistent copy of the database\n');
    await compareCopies(path.join(dataDir, 'workers', `${master.workerId}.db`), path.join(dataDir, 'copies'));
  } finally {
    await client.close();
    await orchestrator.stop();
    await zookeeper.stop();
    await rabbit.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function fill(client: HttpClient, rides: number): Promise<void> {
  await client.post('/api/v1/db/write', { op: 'insert', table: 'users', values: { username: 'bench', password: 'a'.repeat(40) } });
  let next = 0;
  const lane = async () => {
    while (next < rides) {
      const start = next;
      next += 1000;
      const rows = Array.from({ length: Math.min(1000, rides - start) }, (_, i) => ({
        created_by: 'bench',
        timestamp: 2_000_000_000 + start + i,
        source: 1 + ((start + i) % 198),
        destination: 1 + ((start + 7 * i) % 198),
      }));
      const answer = await client.post('/api/v1/db/write', { op: 'insert', table: 'rides', rows });
      if (answer.status !== 200) throw new Error(`write failed: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
}

interface CopyFigure {
  ms: number;
  longestStallMs: number;
  writes: number;
  bytes: number;
}

/** Each way of copying, on a private copy of `liveFile` that a 5 ms writer keeps changing. */
async function compareCopies(liveFile: string, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const source = path.join(dir, 'source.db');
  const reader = new Database(liveFile, { readonly: true });
  reader.prepare('VACUUM INTO ?').run(source);
  reader.close();
  const db = new Database(source);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const target = path.join(dir, 'copy.db');
  const methods: [string, () => Promise<unknown>][] = [
    ['backup() on the worker connection', () => db.backup(target)],
    ['VACUUM INTO on the main thread', async () => db.prepare('VACUUM INTO ?').run(target)],
    ['VACUUM INTO in a thread (used)', () => copySnapshot(source, target)],
  ];
  say('| method | time | longest event-loop stall | writes meanwhile | copy size |');
  say('| --- | --- | --- | --- | --- |');
  for (const [name, copy] of methods) {
    const figures: CopyFigure[] = [];
    for (let round = 0; round < 3; round += 1) {
      fs.rmSync(target, { force: true });
      figures.push(await timeCopy(db, copy, target));
    }
    const pick = (key: keyof CopyFigure) => median(figures.map((figure) => figure[key]));
    say(`| ${name} | ${pick('ms').toFixed(0)} ms | ${pick('longestStallMs').toFixed(0)} ms | ${pick('writes').toFixed(0)} | ${(pick('bytes') / MIB).toFixed(1)} MiB |`);
  }
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

async function timeCopy(db: Database.Database, copy: () => Promise<unknown>, target: string): Promise<CopyFigure> {
  const update = db.prepare("UPDATE users SET password = ? WHERE username = 'bench'");
  let writes = 0;
  let longestStallMs = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    longestStallMs = Math.max(longestStallMs, now - last);
    last = now;
  }, 1);
  const writer = setInterval(() => update.run(`p${writes++}`), 5);
  const started = performance.now();
  await copy();
  const ms = performance.now() - started;
  longestStallMs = Math.max(longestStallMs, performance.now() - last);
  clearInterval(probe);
  clearInterval(writer);
  return { ms, longestStallMs, writes, bytes: fs.statSync(target).size };
}

interface MemoryFigure {
  before: number;
  peak: number;
  after: number;
}

interface JoinResult {
  seconds: number;
  snapshotBytes: number;
  senderRole: string;
  sender: MemoryFigure;
  joiner: MemoryFigure;
}

/** Raises the desired slaves from 1 to 2, times the newcomer, then retires it again. */
async function measureJoin(orchestrator: Orchestrator, runtime: WorkerRuntime, workersDir: string): Promise<JoinResult> {
  const before = await waitFor(async () => {
    const all = await orchestrator.workers();
    return all.length === 2 && all.every((worker) => worker.ready) ? all : undefined;
  }, 60_000);
  const known = new Set([...before, ...runtime.list()].map((worker) => worker.workerId));
  const slave = before.find((worker) => worker.role === 'slave');
  if (!slave) throw new Error('no slave to send the snapshot');
  const senders = new Map(before.map((worker) => [worker.pid, worker.role]));
  const senderBefore = rss(slave.pid);
  await setDesiredSlaves(orchestrator, 2);

  const joiner = await waitFor(() => runtime.list().find((handle) => !known.has(handle.workerId)), 30_000, 2);
  const started = Date.now();
  const samples = { sender: [] as number[], joiner: [] as number[] };
  let senderPid: number | undefined;
  const sampler = setInterval(() => {
    samples.sender.push(rss(slave.pid));
    samples.joiner.push(rss(joiner.pid));
    senderPid ??= copyMakers().find((pid) => senders.has(pid));
  }, SAMPLE_MS);
  await waitFor(async () => (await orchestrator.workers()).find((worker) => worker.workerId === joiner.workerId && worker.ready), 60_000, 5);
  const seconds = (Date.now() - started) / 1000;
  const readyAt = samples.sender.length;
  await new Promise((resolve) => setTimeout(resolve, AFTER_MS));
  clearInterval(sampler);
  const figure = (values: number[], baseline: number): MemoryFigure => ({
    before: baseline,
    peak: Math.max(...values.slice(0, readyAt)),
    after: Math.max(...values.slice(readyAt)),
  });
  const snapshotBytes = fs.statSync(path.join(workersDir, `${joiner.workerId}.db`)).size;

  await setDesiredSlaves(orchestrator, 1);
  // Its znode goes with its ZooKeeper session, a moment before its process exits: wait for both.
  const gone = async () => (await orchestrator.workers()).some((worker) => worker.workerId === joiner.workerId) || runtime.list().some((handle) => handle.workerId === joiner.workerId);
  await waitFor(async () => ((await gone()) ? undefined : true), 60_000);
  return {
    seconds,
    snapshotBytes,
    senderRole: senderPid === undefined ? 'unknown' : (senders.get(senderPid) ?? 'unknown'),
    sender: figure(samples.sender, senderBefore),
    joiner: figure(samples.joiner, Number.NaN),
  };
}

async function setDesiredSlaves(orchestrator: Orchestrator, count: number): Promise<void> {
  const supervisor = orchestrator.supervisor;
  if (!supervisor) throw new Error('the orchestrator does not supervise');
  await supervisor.setDesiredSlaves(count);
}

/** Pids of the processes whose snapshot copies are in the temporary folder right now. */
function copyMakers(): number[] {
  try {
    return fs.readdirSync(DEFAULT_SNAPSHOT_TEMP_DIR).map((name) => Number(name.split('-')[0]));
  } catch {
    return [];
  }
}

function rss(pid: number): number {
  try {
    return residentMegabytes(pid);
  } catch {
    return 0;
  }
}

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
