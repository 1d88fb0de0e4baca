/**
 * Worker start-up measured the same way for any kind of worker: clusters side by side on the
 * same servers, 1 master + 2 slaves and the same rides stored, rounds alternating between them.
 * Per round: a slave's start to serving (the runtime's start call shown apart), then crash/slave
 * to its replacement serving. Used by bench/docker-runtime.ts and bench/worker-start.ts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterSettingsFrom } from '../../src/dbaas/settings/ClusterSettings.ts';
import { workerTuningFrom } from '../../src/dbaas/settings/WorkerTuning.ts';
import { Orchestrator } from '../../src/dbaas/orchestrator/Orchestrator.ts';
import type { WorkerRuntime } from '../../src/dbaas/runtime/WorkerRuntime.ts';
import { ensureRabbitMq, ensureZooKeeper, type ServerHandle } from '../../src/infra/servers.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { PROJECT_ROOT } from '../../src/shared/entry-points.ts';
import type { Logger } from '../../src/shared/logger.ts';
import type { FailoverCluster } from './failover-cluster.ts';
import { fillRides, replacementAfterCrashSlave, whole } from './failover-probes.ts';
import { median } from './load.ts';

export const SLAVES = 2;

export interface StartFigures {
  startCall: number[];
  toServing: number[];
  replacement: number[];
}

export interface StartSubject {
  name: string;
  bench: FailoverCluster;
  lastSeq: number;
  startCalls: number[];
  figures: StartFigures;
}

export interface Servers {
  amqpUrl: string;
  zkConnect: string;
}

export const ms = (value: number) => `${Math.round(value)} ms`;

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

/** A cluster whose workers run in `makeRuntime`'s runtime, filled with `rides` rides and whole. */
export async function setUpSubject(
  name: string,
  servers: Servers,
  rides: number,
  logger: Logger,
  makeRuntime: (where: { cluster: string; dataDir: string; logDir: string }) => WorkerRuntime,
): Promise<StartSubject> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `rideshare-bench-${name}-`));
  const cluster = `bench-${name}-${Date.now().toString(36)}`;
  const runtime = makeRuntime({ cluster, dataDir, logDir: path.join(dataDir, 'logs') });
  const config = loadConfig({ LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', RIDESHARE_CLUSTER: cluster, AMQP_URL: servers.amqpUrl, ZK_CONNECT: servers.zkConnect });
  const orchestrator = new Orchestrator({
    port: 0,
    ...clusterSettingsFrom(config),
    dataDir,
    // The benchmarks measure the database service itself: no tokens between them and it.
    auth: { enabled: false },
    rpcTimeoutMs: 5000,
    sessionTimeoutMs: 4000,
    initialSlaves: SLAVES,
    workerTuning: workerTuningFrom(config),
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
    const lastSeq = await fillRides(orchestrator.url, rides);
    await whole(bench, SLAVES, lastSeq);
    const subject: StartSubject = { name, bench, lastSeq, startCalls: [], figures: { startCall: [], toServing: [], replacement: [] } };
    timeStarts(runtime, subject.startCalls);
    return subject;
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One more slave, timed from the start call to ready; then retired, so every round starts alike. */
export async function slaveStart(subject: StartSubject, round: number, log: (line: string) => void): Promise<void> {
  const { orchestrator } = subject.bench;
  const begun = performance.now();
  const handle = await orchestrator.supervisor!.startWorker('slave');
  subject.figures.toServing.push(performance.now() - begun);
  subject.figures.startCall.push(subject.startCalls.at(-1) ?? Number.NaN);
  const steps = startupSteps(subject.bench.dataDir, handle.workerId);
  log(`  ${subject.name}: slave ${round + 1} serving after ${ms(subject.figures.toServing.at(-1)!)} (start call ${ms(subject.figures.startCall.at(-1)!)})${steps ? `; its own steps: ${steps}` : ''}`);
  await orchestrator.supervisor!.retire(handle.workerId);
}

/** The steps a worker logged for its start (`startupMs`, at LOG_LEVEL=info), if its log file is at hand. */
function startupSteps(dataDir: string, workerId: string): string | undefined {
  try {
    const line = fs
      .readFileSync(path.join(dataDir, 'logs', `${workerId}.log`), 'utf8')
      .split('\n')
      .find((text) => text.includes('"startupMs"'));
    const steps = line ? (JSON.parse(line) as { startupMs?: Record<string, number> }).startupMs : undefined;
    return (
      steps &&
      Object.entries(steps)
        .map(([step, at]) => `${step} ${at} ms`)
        .join(', ')
    );
  } catch {
    return undefined;
  }
}

export async function crashSlave(subject: StartSubject, round: number, log: (line: string) => void): Promise<void> {
  const timing = await replacementAfterCrashSlave(subject.bench, SLAVES, subject.lastSeq);
  subject.figures.replacement.push(timing.ms);
  log(`  ${subject.name}: crash/slave ${round + 1}: pid ${timing.killedPid} → ${timing.newPid} serving after ${ms(timing.ms)}`);
}

/** Every subject's rounds, alternating, so a change in the machine's load hits all alike. */
/**
 * Both measures in every round, their order and the subjects' order turning from round to round,
 * so that no measure or subject always meets the machine just after the same work (the clusters'
 * set-up settling, say, would otherwise fall on the first measure's rounds only).
 */
export async function runStartRounds(subjects: StartSubject[], rounds: number, log: (line: string) => void): Promise<void> {
  for (let round = 0; round < rounds; round += 1) {
    const order = subjects.map((_, index) => subjects[(index + round) % subjects.length] as StartSubject);
    const measures = [slaveStart, crashSlave];
    if (round % 2 === 1) measures.reverse();
    for (const measure of measures) for (const subject of order) await measure(subject, round, log);
  }
}

/** `median [each run]` of one figure. */
export function cell(figures: StartFigures | undefined, pick: (figures: StartFigures) => number[]): string {
  return figures ? `${ms(median(pick(figures)))} [${pick(figures).map(ms).join(', ')}]` : 'n/a';
}

/** Private servers for the run (RabbitMQ: the configured one if any), stopped by the returned function. */
export async function startServers(logger: Logger): Promise<{ servers: Servers; stop(): Promise<void> }> {
  const serverDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-bench-servers-'));
  const started: ServerHandle[] = [];
  const stop = async () => {
    for (const server of started.reverse()) await server.stop().catch(() => undefined);
    fs.rmSync(serverDir, { recursive: true, force: true });
  };
  try {
    const rabbit = await ensureRabbitMq({ configuredUrl: process.env.AMQP_URL, dataDir: serverDir, logger });
    started.push(rabbit);
    const zookeeper = await ensureZooKeeper({ dataDir: serverDir, logger, tickMs: 200, alwaysPrivate: true });
    started.push(zookeeper);
    return { servers: { amqpUrl: rabbit.address, zkConnect: zookeeper.address }, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The shipped worker: the one-file bundle of `npm run build`. */
export const BUNDLED_WORKER_MAIN = path.join(PROJECT_ROOT, 'dist/dbaas/worker/main.bundle.js');

/** `npm run build`, so that dist/ (the bundle included) matches the sources. */
export function buildCompiled(): void {
  const build = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'scripts/build.mjs')], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
}

export function benchOption(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}
