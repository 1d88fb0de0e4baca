/**
 * `npm run bench`: prints the figures the issues ask for, measured in one run on this machine.
 * Each measurement runs `--rounds` times (default 3) and the medians are reported, with ratios
 * taken within a round so that the machine's noise affects both sides alike.
 * Options: `-- --requests N` (per measurement, default 20000), `-- --rounds N`.
 */
import { measureDatabaseRates, measureWorkerMemory, seedBenchUser } from './database.ts';
import { formatTable, median, type LoadResult } from './lib/load.ts';
import { measureRpcEcho } from './lib/rpc-echo.ts';
import { startBenchSystem } from './lib/system.ts';
import { observabilitySection } from './observability.ts';
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
  try {
    await seedBenchUser(system);
    const rounds: LoadResult[][] = [];
    for (let round = 0; round < roundCount; round += 1) {
      rounds.push([...(await measureRpcEcho(system.amqpUrl, requests)), ...(await measureDatabaseRates(system, requests))]);
    }
    const memory = await measureWorkerMemory(system, 100_000);
    const readRatio = median(rounds.map((round) => rateOf(round, 'db/read', 64) / rateOf(round, 'bare RabbitMQ RPC echo', 64)));
    const write64 = median(rounds.map((round) => rateOf(round, 'db/write', 64)));
    const maxRss = Math.max(...memory.workerRssMb.map((worker) => worker.mb));
    const lines = [
      `## Database service (${new Date().toISOString()}; ${requests} requests per row; median of ${roundCount} rounds)`,
      '',
      formatTable(medianRows(rounds)),
      '',
      `db/read at 64 in flight / bare RPC at 64 in flight, per round: ${rounds
        .map((round) => `${((rateOf(round, 'db/read', 64) / rateOf(round, 'bare RabbitMQ RPC echo', 64)) * 100).toFixed(0)}%`)
        .join(', ')}; median ${(readRatio * 100).toFixed(0)}% (target >= 50%)`,
      `db/write at 64 in flight: median ${write64.toFixed(0)}/s (target >= 2000/s)`,
      `worker resident memory with ${memory.rides} rides: ${memory.workerRssMb.map((worker) => `pid ${worker.pid} ${worker.mb.toFixed(0)} MB`).join(', ')} (target < 150 MB; max ${maxRss.toFixed(0)} MB)`,
    ];
    process.stdout.write(`\n${lines.join('\n')}\n`);
    process.stdout.write(`\n${await observabilitySection(system, requests, roundCount)}\n`);
  } finally {
    await system.stop();
  }
  // After the first system is gone, so the two sections never share the machine.
  process.stdout.write(`\n${await servicesSection(requests, roundCount)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
