/**
 * `npx tsx bench/docker-runtime.ts`: the worker runtimes side by side (issue 6's figures), medians
 * of `--rounds` (default 5): a slave's start to serving (runtime start call included, shown
 * apart), and crash/slave to its replacement serving. The same cluster shape and data for both:
 * 1 master + 2 slaves, `--rides` rides stored (default 10,000) so a slave has a snapshot to copy.
 * Both clusters run side by side and the rounds alternate between them. The docker column needs
 * an engine and the image (built here when missing or stale).
 */
import os from 'node:os';
import { DockerRuntime } from '../src/dbaas/runtime/DockerRuntime.ts';
import { ProcessRuntime } from '../src/dbaas/runtime/ProcessRuntime.ts';
import type { RuntimeKind } from '../src/dbaas/runtime/create-runtime.ts';
import { DEFAULT_WORKER_IMAGE } from '../src/shared/config.ts';
import { createLogger } from '../src/shared/logger.ts';
import { dockerEngine } from '../harness/docker-engine.ts';
import { benchOption, buildCompiled, BUNDLED_WORKER_MAIN, cell, runStartRounds, setUpSubject, SLAVES, startServers, type StartSubject } from './lib/worker-start.ts';

const rounds = benchOption('rounds', 5);
const rideCount = benchOption('rides', 10_000);
const log = (line: string) => process.stdout.write(`${line}\n`);
const logger = createLogger('bench-docker-runtime', process.env.LOG_LEVEL ?? 'warn');

async function main(): Promise<void> {
  const { servers, stop } = await startServers(logger);
  try {
    // Both run the shipped worker, the one-file bundle: as npm start's processes and in the image.
    buildCompiled();
    const subject = (kind: RuntimeKind) =>
      setUpSubject(kind, servers, rideCount, logger, (where) =>
        kind === 'process' ? new ProcessRuntime({ ...where, logger, workerMain: BUNDLED_WORKER_MAIN }) : new DockerRuntime({ ...where, image: DEFAULT_WORKER_IMAGE, logger }),
      );
    const subjects: StartSubject[] = [await subject('process')];
    try {
      const engine = await dockerEngine();
      if (engine.ok) subjects.push(await subject('docker'));
      else log(`docker: skipped (${engine.reason})`);
      await runStartRounds(subjects, rounds, log);
    } finally {
      for (const one of subjects) await one.bench.stop();
    }
    const results = new Map(subjects.map((one) => [one.name, one.figures]));
    log('');
    log(
      `## Worker runtimes (${new Date().toISOString()}; ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)}; 1 master + ${SLAVES} slaves; ${rideCount} rides stored; medians of ${rounds})`,
    );
    log('');
    log('| measure | process runtime | docker runtime |');
    log('|---|---|---|');
    log(`| slave start → serving (ready in ZooKeeper) | ${cell(results.get('process'), (f) => f.toServing)} | ${cell(results.get('docker'), (f) => f.toServing)} |`);
    log(`| of which the runtime's start() (spawn / container create + start) | ${cell(results.get('process'), (f) => f.startCall)} | ${cell(results.get('docker'), (f) => f.startCall)} |`);
    log(`| crash/slave → replacement serving | ${cell(results.get('process'), (f) => f.replacement)} | ${cell(results.get('docker'), (f) => f.replacement)} |`);
  } finally {
    await stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    logger.fatal({ err: error }, 'benchmark failed');
    process.exit(1);
  },
);
