/**
 * `npx tsx bench/docker-runtime.ts`: the worker runtimes side by side (issue 6's figures), medians
 * of `--rounds` (default 5): a slave's start to serving (runtime start call included, shown
 * apart), and crash/slave to its replacement serving. The same cluster shape and data for both:
 * 1 master + 2 slaves, `--rides` rides stored (default 10,000) so a slave has a snapshot to copy.
 * Both clusters run side by side and the rounds alternate between them. The docker column needs
 * an engine and the image (built here when missing or stale).
 */
import { loadConfig } from '../src/shared/config.ts';
import { workerTuningFrom } from '../src/dbaas/orchestrator/settings.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Orchestrator } from '../src/dbaas/orchestrator/Orchestrator.ts';
import { createRuntime, type RuntimeKind } from '../src/dbaas/runtime/createRuntime.ts';
import type { WorkerRuntime } from '../src/dbaas/runtime/WorkerRuntime.ts';
import { ensureRabbitMq, ensureZooKeeper, type ServerHandle } from '../src/infra/servers.ts';
import { createLogger } from '../src/shared/logger.ts';
import { dockerEngine } from '../harness/docker-engine.ts';
import { fillRides, replacementAfterCrashSlave, whole } from './lib/failover-probes.ts';
import type { FailoverCluster } from './lib/failover-cluster.ts';
import { median } from './lib/load.ts';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

const rounds = option('rounds', 5);
const rideCount = option('rides', 10_000);
const slaves = 2;
const log = (line: string) => process.stdout.write(`${line}\n`);
const ms = (value: number) => `${Math.round(value)} ms`;
const logger = createLogger('bench-docker-runtime', process.env.LOG_LEVEL ?? 'warn');

interface Figures {
  startCall: number[];
  toServing: number[];
  replacement: number[];
}

/** The runtime's start() alone: a spawn, or a container's create + start + inspect. */
function timeStarts(runtime: WorkerRuntime, into: number[]): void {
  const start = runtime.start.bind(runtime);
  runtime.start = async (spec) => {
    const begun = performance.now();
    const handle = await start(spec);
    into.push(performance.now() - begun);
    return handle;
  };
}

interface Subject {
  kind: RuntimeKind;
  bench: FailoverCluster;
  lastSeq: number;
  startCalls: number[];
  figures: Figures;
}

async function setUp(kind: RuntimeKind, servers: { amqpUrl: string; zkConnect: string }): Promise<Subject> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-bench-${kind}-`));
  const cluster = `bench-${kind}-${Date.now().toString(36)}`;
  const runtime = createRuntime(kind, { cluster, dataDir, logDir: path.join(dataDir, 'logs'), logger });
  const orchestrator = new Orchestrator({
    port: 0,
    cluster,
    dataDir,
    amqpUrl: servers.amqpUrl,
    zkConnect: servers.zkConnect,
    // The benchmarks measure the database service itself: no tokens between them and it.
    auth: { enabled: false },
    rpcTimeoutMs: 5000,
    sessionTimeoutMs: 4000,
    initialSlaves: slaves,
    workerTuning: workerTuningFrom(loadConfig({ LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' })),
    runtime,
    logger,
  });
  const stop = async () => {
    await orchestrator.stop().catch((error: unknown) => logger.error({ err: error }, 'stop failed'));
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await orchestrator.start();
    const bench: FailoverCluster = { orchestratorUrl: orchestrator.url, orchestrator, dataDir, stop };
    const lastSeq = await fillRides(orchestrator.url, rideCount);
    await whole(bench, slaves, lastSeq);
    const subject: Subject = { kind, bench, lastSeq, startCalls: [], figures: { startCall: [], toServing: [], replacement: [] } };
    timeStarts(runtime, subject.startCalls);
    return subject;
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One more slave, timed from the start call to ready; then retired, so every round starts alike. */
async function slaveStart(subject: Subject, round: number): Promise<void> {
  const { orchestrator } = subject.bench;
  const begun = performance.now();
  const handle = await orchestrator.supervisor!.startWorker('slave');
  subject.figures.toServing.push(performance.now() - begun);
  subject.figures.startCall.push(subject.startCalls.at(-1) ?? Number.NaN);
  log(`  ${subject.kind}: slave ${round + 1} serving after ${ms(subject.figures.toServing.at(-1)!)} (start call ${ms(subject.figures.startCall.at(-1)!)})`);
  await orchestrator.supervisor!.retire(handle.workerId);
}

async function crashSlave(subject: Subject, round: number): Promise<void> {
  const timing = await replacementAfterCrashSlave(subject.bench, slaves, subject.lastSeq);
  subject.figures.replacement.push(timing.ms);
  log(`  ${subject.kind}: crash/slave ${round + 1}: pid ${timing.killedPid} → ${timing.newPid} serving after ${ms(timing.ms)}`);
}

async function main(): Promise<void> {
  const serverDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-bench-servers-'));
  const started: ServerHandle[] = [];
  try {
    const rabbit = await ensureRabbitMq({ configuredUrl: process.env.AMQP_URL, dataDir: serverDir, logger });
    started.push(rabbit);
    const zookeeper = await ensureZooKeeper({ dataDir: serverDir, logger, tickMs: 200, alwaysPrivate: true });
    started.push(zookeeper);
    const servers = { amqpUrl: rabbit.address, zkConnect: zookeeper.address };

    const subjects: Subject[] = [await setUp('process', servers)];
    try {
      const engine = await dockerEngine();
      if (engine.ok) subjects.push(await setUp('docker', servers));
      else log(`docker: skipped (${engine.reason})`);
      // Rounds alternate between the runtimes, so a change in the machine's load hits both alike.
      for (let round = 0; round < rounds; round += 1) for (const subject of subjects) await slaveStart(subject, round);
      for (let round = 0; round < rounds; round += 1) for (const subject of subjects) await crashSlave(subject, round);
    } finally {
      for (const subject of subjects) await subject.bench.stop();
    }
    const results = new Map(subjects.map((subject) => [subject.kind, subject.figures]));

    const cell = (kind: RuntimeKind, pick: (figures: Figures) => number[]) => {
      const figures = results.get(kind);
      return figures ? `${ms(median(pick(figures)))} [${pick(figures).map(ms).join(', ')}]` : 'n/a';
    };
    log('');
    log(`## Worker runtimes (${new Date().toISOString()}; ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)}; 1 master + ${slaves} slaves; ${rideCount} rides stored; medians of ${rounds})`);
    log('');
    log('| measure | process runtime | docker runtime |');
    log('|---|---|---|');
    log(`| slave start → serving (ready in ZooKeeper) | ${cell('process', (f) => f.toServing)} | ${cell('docker', (f) => f.toServing)} |`);
    log(`| of which the runtime's start() (spawn / container create + start) | ${cell('process', (f) => f.startCall)} | ${cell('docker', (f) => f.startCall)} |`);
    log(`| crash/slave → replacement serving | ${cell('process', (f) => f.replacement)} | ${cell('docker', (f) => f.replacement)} |`);
  } finally {
    for (const server of started.reverse()) await server.stop().catch(() => undefined);
    fs.rmSync(serverDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    logger.fatal({ err: error }, 'benchmark failed');
    process.exit(1);
  },
);
