/**
 * What access logs and metrics cost: db/read through two more orchestrators of the same cluster,
 * one as shipped (LOG_LEVEL=info, an access line per request written to a file, metrics on) and
 * one with ACCESS_LOG=off and METRICS=off, measured back to back in each round (the order
 * alternates), so both meet the same workers, broker and machine noise.
 */
import path from 'node:path';
import { ServiceProcess } from '../src/system/ServiceProcess.ts';
import { formatTable, loadClient, median, runLoad, type LoadResult } from './lib/load.ts';
import { freePort, type BenchSystem } from './lib/system.ts';

const SHIPPED = 'db/read, access log + metrics';
const PLAIN = 'db/read, both off';

async function startOrchestrator(system: BenchSystem, name: string, extra: Record<string, string>): Promise<{ process: ServiceProcess; url: string }> {
  const port = await freePort();
  const process = new ServiceProcess({
    name,
    entry: 'src/dbaas/orchestrator/main.ts',
    port,
    env: { ...system.env, ORCHESTRATOR_PORT: String(port), LOG_LEVEL: 'info', ...extra },
    logFile: path.join(system.dataDir, `${name}.log`),
  });
  await process.start(() => undefined);
  return { process, url: `http://127.0.0.1:${port}` };
}

async function readsThrough(url: string, label: string, requests: number, concurrency: number): Promise<LoadResult> {
  const client = loadClient(url);
  try {
    const read = (i: number) => client.post('/api/v1/db/read', { table: 'rides', where: { source: 1 + (i % 198), destination: 2 }, limit: 10 }).then((r) => r.status === 200);
    return await runLoad({ label, concurrency, requests, task: read });
  } finally {
    await client.close();
  }
}

export async function observabilitySection(system: BenchSystem, requests: number, roundCount: number): Promise<string> {
  const shipped = await startOrchestrator(system, 'orchestrator-shipped', {});
  const plain = await startOrchestrator(system, 'orchestrator-plain', { ACCESS_LOG: 'off', METRICS: 'off' });
  try {
    const rounds: LoadResult[][] = [];
    for (let round = 0; round < roundCount; round += 1) {
      const order = round % 2 === 0 ? [shipped, plain] : [plain, shipped];
      const results: LoadResult[] = [];
      for (const concurrency of [1, 64]) {
        for (const side of order) {
          const label = side === shipped ? SHIPPED : PLAIN;
          results.push(await readsThrough(side.url, label, concurrency === 1 ? Math.min(requests, 3000) : requests, concurrency));
        }
      }
      rounds.push(results);
    }
    const rate = (round: LoadResult[], label: string, concurrency: number) => round.find((row) => row.label === label && row.concurrency === concurrency)?.rate ?? Number.NaN;
    const ratios = (concurrency: number) => rounds.map((round) => rate(round, SHIPPED, concurrency) / rate(round, PLAIN, concurrency));
    const describe = (concurrency: number) =>
      `${ratios(concurrency).map((ratio) => `${(ratio * 100).toFixed(0)}%`).join(', ')}; median ${(median(ratios(concurrency)) * 100).toFixed(0)}%`;
    return [
      `## Cost of access logs and metrics (${roundCount} rounds, both orchestrators in front of the same workers)`,
      '',
      formatTable(rounds.flat()),
      '',
      `db/read rate with both on / with both off, 64 in flight, per round: ${describe(64)}`,
      `db/read rate with both on / with both off, 1 in flight, per round: ${describe(1)}`,
    ].join('\n');
  } finally {
    await plain.process.stop();
    await shipped.process.stop();
  }
}
