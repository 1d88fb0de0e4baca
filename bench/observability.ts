/**
 * What access logs and metrics cost: db/read through three more orchestrators of the same
 * cluster, compiled as `npm start` runs them: one as shipped (LOG_LEVEL info, an access line per
 * request written to a file, metrics on), one quiet (LOG_LEVEL=warn: no access lines, metrics on)
 * and one with ACCESS_LOG=off and METRICS=off, measured back to back in each round (the order
 * rotates), so all meet the same workers, broker and machine noise. Each row also gives the
 * orchestrator's CPU per request (/proc/<pid>/stat utime + stime).
 */
import { runLoadWithCpu, type CpuLoadResult } from './lib/cpu.ts';
import { formatTable, loadClient, median } from './lib/load.ts';
import { compiledEntry, freePort, logFileOf, type BenchSystem } from './lib/system.ts';
import { ServiceProcess } from '../src/system/ServiceProcess.ts';

const SHIPPED = 'db/read, as shipped (access log + metrics)';
const QUIET = 'db/read, quiet (LOG_LEVEL=warn)';
const PLAIN = 'db/read, access log and metrics off';

interface Side {
  label: string;
  process: ServiceProcess;
  url: string;
}

async function startOrchestrator(system: BenchSystem, label: string, name: string, extra: Record<string, string>): Promise<Side> {
  const port = await freePort();
  const process = new ServiceProcess({
    name,
    entry: compiledEntry('dbaas/orchestrator/main.ts'),
    port,
    env: { ...system.env, ORCHESTRATOR_PORT: String(port), LOG_LEVEL: 'info', ...extra },
    logFile: logFileOf(system.dataDir, name),
  });
  await process.start(() => undefined);
  return { label, process, url: `http://127.0.0.1:${port}` };
}

async function readsThrough(side: Side, requests: number, concurrency: number): Promise<CpuLoadResult> {
  const client = loadClient(side.url);
  try {
    const read = (i: number) => client.post('/api/v1/db/read', { table: 'rides', where: { source: 1 + (i % 198), destination: 2 }, limit: 10 }).then((r) => r.status === 200);
    const pid = side.process.pid;
    return await runLoadWithCpu({ label: side.label, concurrency, requests, task: read }, { orchestrator: pid === undefined ? [] : [pid] });
  } finally {
    await client.close();
  }
}

export async function observabilitySection(system: BenchSystem, requests: number, roundCount: number): Promise<string> {
  const sides = [
    await startOrchestrator(system, SHIPPED, 'orchestrator-shipped', {}),
    await startOrchestrator(system, QUIET, 'orchestrator-quiet', { LOG_LEVEL: 'warn' }),
    await startOrchestrator(system, PLAIN, 'orchestrator-plain', { ACCESS_LOG: 'off', METRICS: 'off' }),
  ];
  try {
    const rounds: CpuLoadResult[][] = [];
    for (let round = 0; round < roundCount; round += 1) {
      const order = [...sides.slice(round % sides.length), ...sides.slice(0, round % sides.length)];
      const results: CpuLoadResult[] = [];
      for (const concurrency of [1, 64]) {
        for (const side of order) results.push(await readsThrough(side, concurrency === 1 ? Math.min(requests, 3000) : requests, concurrency));
      }
      rounds.push(results);
    }
    const find = (round: CpuLoadResult[], label: string, concurrency: number) => round.find((row) => row.label === label && row.concurrency === concurrency);
    const perRound = (label: string, concurrency: number, of: (row: CpuLoadResult) => number, unit: string) => {
      const values = rounds.map((round) => {
        const row = find(round, label, concurrency);
        return row === undefined ? Number.NaN : of(row);
      });
      return `${values.map((value) => `${value.toFixed(0)}${unit}`).join(', ')}; median ${median(values).toFixed(0)}${unit}`;
    };
    const ratio = (concurrency: number, top: string) => {
      const values = rounds.map((round) => (find(round, top, concurrency)?.rate ?? Number.NaN) / (find(round, PLAIN, concurrency)?.rate ?? Number.NaN));
      return `${values.map((value) => `${(value * 100).toFixed(0)}%`).join(', ')}; median ${(median(values) * 100).toFixed(0)}%`;
    };
    const cpuUs = (row: CpuLoadResult) => (row.cpuMsPerRequest.orchestrator ?? Number.NaN) * 1000;
    return [
      `## Cost of access logs and metrics (${roundCount} rounds, the three orchestrators in front of the same workers, compiled)`,
      '',
      formatTable(rounds.flat()),
      '',
      ...[64, 1].flatMap((concurrency) => sides.map((side) => `orchestrator CPU per db/read, ${side.label}, ${concurrency} in flight, per round: ${perRound(side.label, concurrency, cpuUs, ' µs')}`)),
      `db/read rate as shipped / with both off, 64 in flight, per round: ${ratio(64, SHIPPED)}`,
      `db/read rate quiet / with both off, 64 in flight, per round: ${ratio(64, QUIET)}`,
      `db/read rate as shipped / with both off, 1 in flight, per round: ${ratio(1, SHIPPED)}`,
    ].join('\n');
  } finally {
    for (const side of [...sides].reverse()) await side.process.stop();
  }
}
