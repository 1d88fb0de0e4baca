/**
 * `npm run bench`: prints the figures the issues ask for, measured in one run on this machine.
 * Each measurement runs `--rounds` times (default 3) and the medians are reported, with ratios
 * taken within a round so that the machine's noise affects both sides alike.
 * Options: `-- --requests N` (per measurement, default 20000), `-- --rounds N`.
 */
import { BENCH_USER, benchRides, ECHO, findBroker, measureDatabaseRound, measureWorkerMemory, OURS, POSTGRES, seedBenchData, type RoundResult } from './database.ts';
import { formatTable, median, type LoadResult } from './lib/load.ts';
import { SHIPPED_DESCRIPTION, startBenchSystem } from './lib/system.ts';
import { observabilitySection } from './observability.ts';
import { anchorSection, openPostgresAnchor } from './postgres-anchor.ts';
import type { PostgresAnchor } from './postgres.ts';
import { measureReplySigning, replySigningLine } from './reply-signing.ts';
import { servicesSection } from './services.ts';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

function rateOf(results: LoadResult[], label: string, concurrency: number): number {
  return results.find((result) => result.label === label && result.concurrency === concurrency)?.rate ?? Number.NaN;
}

/** One row per (label, in flight): the round with the median rate. */
function medianRows(rounds: LoadResult[][]): LoadResult[] {
  const first = rounds[0] ?? [];
  return first.map((row) => {
    const same = rounds.map((round) => round.find((result) => result.label === row.label && result.concurrency === row.concurrency) as LoadResult);
    const sorted = [...same].sort((a, b) => a.rate - b.rate);
    return sorted[Math.floor(sorted.length / 2)] as LoadResult;
  });
}

async function main(): Promise<void> {
  const requests = option('requests', 20_000);
  const roundCount = option('rounds', 3);
  const system = await startBenchSystem({ withServices: false });
  let anchor: PostgresAnchor | undefined;
  try {
    // PostgreSQL, when a server answers, is measured in the same rounds as ours (bench/postgres-anchor.ts).
    const postgres = await openPostgresAnchor();
    if ('skipped' in postgres) process.stdout.write(`${postgres.skipped}\n`);
    else anchor = postgres;
    await seedBenchData(system);
    await anchor?.seed(BENCH_USER, benchRides());
    const broker = findBroker(system.amqpUrl);
    const rounds: RoundResult[][] = [];
    for (let round = 0; round < roundCount; round += 1) {
      rounds.push(await measureDatabaseRound(system, { requests, round, broker, postgres: anchor }));
    }
    await anchor?.close();
    const memory = await measureWorkerMemory(system, 100_000);
    const readRatio = median(rounds.map((round) => rateOf(round, OURS.route, 64) / rateOf(round, ECHO, 64)));
    const write64 = median(rounds.map((round) => rateOf(round, OURS.insert, 64)));
    const maxRss = Math.max(...memory.workerRssMb.map((worker) => worker.mb));
    const lines = [
      `## Database service (${new Date().toISOString()}; ${requests} requests per row; median of ${roundCount} rounds)`,
      '',
      formatTable(medianRows(rounds).filter((row) => !(Object.values(POSTGRES) as string[]).includes(row.label))),
      '',
      `db/read route search at 64 in flight / bare RPC at 64 in flight, per round: ${rounds
        .map((round) => `${((rateOf(round, OURS.route, 64) / rateOf(round, ECHO, 64)) * 100).toFixed(0)}%`)
        .join(', ')}; median ${(readRatio * 100).toFixed(0)}% (target >= 75%)`,
      `orchestrator CPU per db/read route search at 64 in flight, per round: ${rounds
        .map((round) => `${((round.find((r) => r.label === OURS.route && r.concurrency === 64)?.cpuMsPerRequest.orchestrator ?? Number.NaN) * 1000).toFixed(0)} µs`)
        .join(', ')} (target <= 40 µs; shipped settings: ${SHIPPED_DESCRIPTION})`,
      `db/write at 64 in flight: median ${write64.toFixed(0)}/s (target >= 2000/s)`,
      replySigningLine(measureReplySigning(), median(rounds.map((round) => rateOf(round, OURS.route, 64)))),
      `worker resident memory with ${memory.rides} rides: ${memory.workerRssMb.map((worker) => `pid ${worker.pid} ${worker.mb.toFixed(0)} MB`).join(', ')} (target < 150 MB; max ${maxRss.toFixed(0)} MB)`,
    ];
    process.stdout.write(`\n${lines.join('\n')}\n`);
    process.stdout.write(`\n${anchorSection(rounds, { requests, broker, postgres })}\n`);
    process.stdout.write(`\n${await observabilitySection(system, requests, roundCount)}\n`);
  } finally {
    await anchor?.close();
    await system.stop();
  }
  // After the first system is gone, so the two sections never share the machine.
  process.stdout.write(`\n${await servicesSection(requests, roundCount)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
