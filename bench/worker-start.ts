/**
 * `npx tsx bench/worker-start.ts [--rounds N] [--rides N]`: how fast a worker starts when it runs
 * from the compiled one-file bundle (as `npm start` runs it), compiled module by module, and
 * through the tsx loader (as every worker ran before, and as tests still run them). Clusters side by side, 1 master + 2 slaves
 * and `--rides` rides each (default 10,000), rounds alternating: a slave's start to serving, and
 * crash/slave to its replacement serving, with the ratio of each round.
 */
import os from 'node:os';
import path from 'node:path';
import { ProcessRuntime } from '../src/dbaas/runtime/ProcessRuntime.ts';
import { PROJECT_ROOT } from '../src/shared/entry-points.ts';
import { createLogger } from '../src/shared/logger.ts';
import { benchOption, buildCompiled, BUNDLED_WORKER_MAIN, cell, runStartRounds, setUpSubject, SLAVES, startServers, type StartFigures, type StartSubject } from './lib/worker-start.ts';
import { median } from './lib/load.ts';

const rounds = benchOption('rounds', 5);
const rideCount = benchOption('rides', 10_000);
const log = (line: string) => process.stdout.write(`${line}\n`);
const logger = createLogger('bench-worker-start', process.env.LOG_LEVEL ?? 'warn');

/** How a worker can run: as before (tsx), compiled module by module, and as shipped (one bundle). */
const ENTRIES = {
  tsx: path.join(PROJECT_ROOT, 'src/dbaas/worker/main.ts'),
  modules: path.join(PROJECT_ROOT, 'dist/dbaas/worker/main.js'),
  compiled: BUNDLED_WORKER_MAIN,
};

async function main(): Promise<void> {
  buildCompiled();
  const { servers, stop } = await startServers(logger);
  try {
    const subjects: StartSubject[] = [];
    try {
      for (const [name, workerMain] of Object.entries(ENTRIES)) {
        subjects.push(await setUpSubject(name, servers, rideCount, logger, (where) => new ProcessRuntime({ cluster: where.cluster, logDir: where.logDir, logger, workerMain })));
      }
      await runStartRounds(subjects, rounds, log);
    } finally {
      for (const one of subjects) await one.bench.stop();
    }
    const figuresOf = (name: string) => subjects.find((one) => one.name === name)!.figures;
    const [tsx, modules, compiled] = [figuresOf('tsx'), figuresOf('modules'), figuresOf('compiled')];
    const ratios = (pick: (figures: StartFigures) => number[]) => pick(tsx).map((value, round) => value / (pick(compiled)[round] as number));
    const ratioCell = (pick: (figures: StartFigures) => number[]) =>
      `**${median(ratios(pick)).toFixed(2)}×** [${ratios(pick)
        .map((ratio) => `${ratio.toFixed(2)}×`)
        .join(', ')}]`;
    log('');
    log(
      `## Worker start (${new Date().toISOString()}; ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)}; 1 master + ${SLAVES} slaves; ${rideCount} rides stored; medians of ${rounds})`,
    );
    log('');
    log('| measure | through tsx | compiled, module by module | compiled, one bundle (as shipped) | tsx ÷ bundle, per round |');
    log('|---|---|---|---|---|');
    for (const [label, pick] of [
      ['slave start → serving (ready in ZooKeeper)', (f: StartFigures) => f.toServing],
      ['crash/slave → replacement serving', (f: StartFigures) => f.replacement],
    ] as const) {
      log(`| ${label} | ${cell(tsx, pick)} | ${cell(modules, pick)} | ${cell(compiled, pick)} | ${ratioCell(pick)} |`);
    }
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
