/**
 * `npx tsx bench/hot-path-floor.ts [--rounds N] [--requests N]`: how far the hot path's targets
 * (issue 23) are from what any HTTP front for the database could reach on this machine. One run,
 * five measures, each at 1 and 64 in flight, in an order that rotates from round to round:
 *
 * - the bare RPC echo (bench/lib/rpc-echo.ts) on a classic queue, as `npm run bench` measures it,
 *   and the same echo replier on a quorum queue, as readQ is;
 * - the floor server (bench/lib/floor-server.ts): a plain node:http server in front of each echo,
 *   loaded as db/read is (bench/lib/load.ts);
 * - ours: db/read point read through the orchestrator as shipped (bench/lib/system.ts).
 *
 * Every round is printed, then the ratios the issue names against each anchor, taken within a
 * round, with their medians; CPU per request from /proc for the front (the orchestrator, the floor
 * server) and the broker. Requests per row: `--requests` at 64 in flight, at most 3000 at 1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureRabbitMq, ensureZooKeeper } from '../src/infra/servers.ts';
import { createLogger } from '../src/shared/logger.ts';
import { findBroker, ourProcessGroups, POINT_READ, pointReadTask, seedBenchData, SERIAL_REQUESTS } from './database.ts';
import { type BenchChild, forkBenchChild } from './lib/bench-child.ts';
import { openEchoCaller } from './lib/echo-caller.ts';
import type { EchoQueueType } from './lib/echo-queue.ts';
import { BENCH_PROCESS, REST_OF_MACHINE, runLoadWithCpu, type CpuLoadResult, type ProcessGroups } from './lib/cpu.ts';
import { loadClient, median } from './lib/load.ts';
import { ECHO_BODY, startEchoReplier } from './lib/rpc-echo.ts';
import { startBenchSystem } from './lib/system.ts';

const FLOOR_SERVER = fileURLToPath(new URL('./lib/floor-server.ts', import.meta.url));
const IN_FLIGHT = [1, 64] as const;

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

/** One thing measured: how to ask it, whose CPU to count, and which group is its front (if any). */
interface Measure {
  name: string;
  task(index: number): Promise<boolean>;
  groups: ProcessGroups;
  front?: string;
}

interface Row extends CpuLoadResult {
  measure: string;
  round: number;
}

const ECHO = (type: EchoQueueType) => `echo (${type})`;
const FLOOR = (type: EchoQueueType) => `floor (${type})`;
const OURS = 'ours (db/read point)';
const BROKER = 'rabbitmq';
const REPLIER = 'echo replier';

function loadAverage(): string {
  return os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
}

/** Work to undo, last first, however the run ends (a signal included). */
class Cleanup {
  private readonly steps: (() => Promise<void>)[] = [];
  add(step: () => Promise<void>): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) await step().catch(() => undefined);
  }
}

function rowOf(rows: Row[], measure: string, round: number, concurrency: number): Row | undefined {
  return rows.find((row) => row.measure === measure && row.round === round && row.concurrency === concurrency);
}

function micros(ms: number | undefined): string {
  return ms === undefined ? '–' : (ms * 1000).toFixed(0);
}

/** CPU ms per request of what answers the message: the echo replier, or ours' workers. */
function answererMs(cpu: Record<string, number>): number | undefined {
  const parts = [REPLIER, 'master', 'slaves'].map((group) => cpu[group]).filter((ms): ms is number => ms !== undefined);
  return parts.length === 0 ? undefined : parts.reduce((sum, ms) => sum + ms, 0);
}

function report(measures: Measure[], rows: Row[], rounds: number): string[] {
  const roundNumbers = Array.from({ length: rounds }, (_, round) => round);
  const head = (first: string) => [`| ${first} | in flight | ${roundNumbers.map((round) => `round ${round + 1}`).join(' | ')} |`, `| --- | --- |${roundNumbers.map(() => ' --- |').join('')}`];
  const lines = ['Every round, rate/s · p50 ms · p99 ms (errors, if any):', '', ...head('measure')];
  for (const concurrency of IN_FLIGHT) {
    for (const measure of measures) {
      const cells = roundNumbers.map((round) => {
        const row = rowOf(rows, measure.name, round, concurrency);
        return row ? `${row.rate.toFixed(0)} · ${row.p50Ms.toFixed(2)} · ${row.p99Ms.toFixed(2)}${row.errors ? ` (${row.errors} errors)` : ''}` : '–';
      });
      lines.push(`| ${measure.name} | ${concurrency} | ${cells.join(' | ')} |`);
    }
  }
  lines.push(
    '',
    'CPU µs per request, every round: front (orchestrator or floor server) · broker · what answers (the echo replier, or our master and slave) · load generator (this process) · rest of the machine:',
    '',
    ...head('measure'),
  );
  for (const concurrency of IN_FLIGHT) {
    for (const measure of measures) {
      const cells = roundNumbers.map((round) => {
        const cpu = rowOf(rows, measure.name, round, concurrency)?.cpuMsPerRequest ?? {};
        return [measure.front ? cpu[measure.front] : undefined, cpu[BROKER], answererMs(cpu), cpu[BENCH_PROCESS], cpu[REST_OF_MACHINE]].map(micros).join(' · ');
      });
      lines.push(`| ${measure.name} | ${concurrency} | ${cells.join(' | ')} |`);
    }
  }
  const figure = (title: string, value: (round: number) => number, digits: number, unit: string) => {
    const values = roundNumbers.map(value);
    return `| ${title} | ${values.map((v) => `${v.toFixed(digits)}${unit}`).join(' | ')} | **${median(values).toFixed(digits)}${unit}** |`;
  };
  const rate = (measure: string, round: number) => rowOf(rows, measure, round, 64)?.rate ?? Number.NaN;
  const p50 = (measure: string, round: number) => rowOf(rows, measure, round, 1)?.p50Ms ?? Number.NaN;
  const cpu = (measure: string, group: string, concurrency: number, round: number) => (rowOf(rows, measure, round, concurrency)?.cpuMsPerRequest[group] ?? Number.NaN) * 1000;
  const pairs: [string, string][] = [
    [OURS, ECHO('classic')],
    [OURS, ECHO('quorum')],
    [FLOOR('classic'), ECHO('classic')],
    [FLOOR('quorum'), ECHO('classic')],
    [FLOOR('quorum'), ECHO('quorum')],
    [OURS, FLOOR('classic')],
    [OURS, FLOOR('quorum')],
    [ECHO('quorum'), ECHO('classic')],
  ];
  lines.push('', `| ratio, within each round | ${roundNumbers.map((round) => `round ${round + 1}`).join(' | ')} | median |`, `| --- |${roundNumbers.map(() => ' --- |').join('')} --- |`);
  for (const [mine, theirs] of pairs) lines.push(figure(`rate @64: ${mine} ÷ ${theirs}`, (round) => rate(mine, round) / rate(theirs, round), 2, '×'));
  for (const [mine, theirs] of pairs) lines.push(figure(`p50 @1: ${mine} ÷ ${theirs}`, (round) => p50(mine, round) / p50(theirs, round), 2, '×'));
  for (const concurrency of IN_FLIGHT) {
    lines.push(figure(`CPU µs per request @${concurrency}: ours' orchestrator`, (round) => cpu(OURS, 'orchestrator', concurrency, round), 0, ''));
    for (const type of ['classic', 'quorum'] as const)
      lines.push(figure(`CPU µs per request @${concurrency}: ${FLOOR(type)} server`, (round) => cpu(FLOOR(type), 'floor server', concurrency, round), 0, ''));
    lines.push(
      figure(
        `CPU @${concurrency}: ours' orchestrator ÷ ${FLOOR('quorum')} server`,
        (round) => cpu(OURS, 'orchestrator', concurrency, round) / cpu(FLOOR('quorum'), 'floor server', concurrency, round),
        2,
        '×',
      ),
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const requests = option('requests', 8000);
  const rounds = option('rounds', 3);
  const loadAtStart = loadAverage();
  const cleanup = new Cleanup();
  const onSignal = () => void cleanup.run().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Private servers, so the broker's CPU is this run's alone and nothing it declares outlives it.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-floor-'));
    cleanup.add(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const logger = createLogger('bench', 'warn');
    const rabbit = await ensureRabbitMq({ dataDir: path.join(dataDir, 'rabbitmq'), logger, alwaysPrivate: true });
    cleanup.add(() => rabbit.stop());
    const zookeeper = await ensureZooKeeper({ dataDir: path.join(dataDir, 'zookeeper'), logger, alwaysPrivate: true });
    cleanup.add(() => zookeeper.stop());
    const system = await startBenchSystem({ withServices: false, amqpUrl: rabbit.address, zkConnect: zookeeper.address });
    cleanup.add(() => system.stop());
    await seedBenchData(system);
    const broker = findBroker(system.amqpUrl);
    const ours = loadClient(system.orchestratorUrl);
    cleanup.add(() => ours.close());
    const measures: Measure[] = [];
    const floors: Measure[] = [];
    for (const type of ['classic', 'quorum'] as const) {
      const replier = await startEchoReplier(system.amqpUrl, type);
      cleanup.add(() => replier.stop());
      const caller = await openEchoCaller(system.amqpUrl, replier.queue, 'direct reply-to');
      cleanup.add(() => caller.close());
      measures.push({ name: ECHO(type), task: () => caller.call(ECHO_BODY).then((reply) => reply !== undefined), groups: { [BROKER]: broker.pids, [REPLIER]: [replier.pid] } });
      const floor: BenchChild & { first: number } = await forkBenchChild<number>(FLOOR_SERVER, [system.amqpUrl, replier.queue]);
      cleanup.add(() => floor.stop());
      const client = loadClient(`http://127.0.0.1:${floor.first}`);
      cleanup.add(() => client.close());
      floors.push({
        name: FLOOR(type),
        task: () => client.post('/api/v1/db/read', POINT_READ).then((r) => r.status === 200 && (r.body as { table?: unknown } | undefined)?.table === POINT_READ.table),
        groups: { 'floor server': [floor.pid], [BROKER]: broker.pids, [REPLIER]: [replier.pid] },
        front: 'floor server',
      });
    }
    measures.push(...floors, { name: OURS, task: pointReadTask(ours), groups: await ourProcessGroups(ours, broker), front: 'orchestrator' });
    const rows: Row[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const order = measures.map((_, index) => measures[(index + round) % measures.length] as Measure);
      for (const measure of order) {
        for (const concurrency of IN_FLIGHT) {
          const count = concurrency === 1 ? Math.min(requests, SERIAL_REQUESTS) : requests;
          const result = await runLoadWithCpu({ label: measure.name, concurrency, requests: count, task: measure.task }, measure.groups);
          rows.push({ ...result, measure: measure.name, round });
          process.stderr.write(`round ${round + 1}/${rounds}: ${measure.name} @${concurrency}: ${result.rate.toFixed(0)}/s, p50 ${result.p50Ms.toFixed(2)} ms, errors ${result.errors}\n`);
        }
      }
    }
    const header = `## The hot path's floor (${new Date().toISOString()}; ${os.cpus().length} cores; load average ${loadAtStart} at the start, ${loadAverage()} at the end; ${requests} requests per row at 64 in flight, ${Math.min(requests, SERIAL_REQUESTS)} at 1; ${rounds} rounds, order rotating)`;
    process.stdout.write(
      `\n${[header, '', `Broker: a private RabbitMQ node of this run, beam.smp pid ${broker.pids.join(', ')}; ZooKeeper private too.`, '', ...report(measures, rows, rounds)].join('\n')}\n`,
    );
  } finally {
    await cleanup.run();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`hot-path-floor failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
