/**
 * `npx tsx bench/compare-cpu.ts --baseline DIR [--slices N] [--requests N]`: the orchestrator's CPU
 * per db/read of this checkout against another built checkout (DIR), for a machine too busy for
 * whole rounds to compare: both systems run at once (as shipped, bench/lib/system.ts), and the
 * load alternates between them in short slices (route searches at 64 in flight, then at 1), the
 * order turning each slice, so whatever else the machine does falls on both alike. Prints every
 * slice, then each build's totals: CPU per read, reads per second, and the median p50 at 1 in flight.
 */
import { routeOf, SEARCH_LIMIT, seedBenchData } from './database.ts';
import { runLoadWithCpu } from './lib/cpu.ts';
import { loadClient, median } from './lib/load.ts';
import { startBenchSystem, type BenchSystem } from './lib/system.ts';

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

const baseline = option('baseline');
if (baseline === undefined) throw new Error('--baseline DIR is needed: a built checkout of the project to compare with');
const slices = Number(option('slices') ?? '8');
const requests = Number(option('requests') ?? '2000');
const SERIAL = 300;

interface Side {
  name: string;
  system: BenchSystem;
  client: ReturnType<typeof loadClient>;
  pids: number[];
  cpuMs: number;
  reads: number;
  seconds: number;
  serialP50: number[];
}

async function side(name: string, root: string | undefined): Promise<Side> {
  const system = await startBenchSystem({ withServices: false, ...(root === undefined ? {} : { root }) });
  await seedBenchData(system);
  const client = loadClient(system.orchestratorUrl);
  const status = (await client.get('/api/v1/cluster')).body as { orchestrators: { pid: number }[] };
  return { name, system, client, pids: status.orchestrators.map((orchestrator) => orchestrator.pid), cpuMs: 0, reads: 0, seconds: 0, serialP50: [] };
}

const sides: Side[] = [];
try {
  sides.push(await side('baseline', baseline));
  sides.push(await side('this checkout', undefined));
  for (let slice = 0; slice < slices; slice += 1) {
    const order = slice % 2 === 0 ? sides : [...sides].reverse();
    for (const current of order) {
      const rowsOf = (body: unknown) => ((body as { rows?: unknown })?.rows as unknown[] | undefined)?.length;
      const task = (i: number) => current.client.post('/api/v1/db/read', { table: 'rides', where: routeOf(i), limit: SEARCH_LIMIT }).then((r) => r.status === 200 && rowsOf(r.body) === SEARCH_LIMIT);
      const busy = await runLoadWithCpu({ label: current.name, concurrency: 64, requests, task }, { orchestrator: current.pids });
      const serial = await runLoadWithCpu({ label: current.name, concurrency: 1, requests: SERIAL, task, warmup: 20 }, {});
      const cpuUs = (busy.cpuMsPerRequest.orchestrator ?? Number.NaN) * 1000;
      current.cpuMs += (busy.cpuMsPerRequest.orchestrator ?? 0) * busy.requests;
      current.reads += busy.requests;
      current.seconds += busy.seconds;
      current.serialP50.push(serial.p50Ms);
      process.stdout.write(
        `slice ${slice + 1}, ${current.name}: @64 ${busy.rate.toFixed(0)}/s, orchestrator ${cpuUs.toFixed(0)} µs per read, errors ${busy.errors}; @1 p50 ${serial.p50Ms.toFixed(2)} ms\n`,
      );
    }
  }
} finally {
  for (const current of sides) {
    await current.client.close();
    await current.system.stop();
  }
}
process.stdout.write(`\ntotals (${slices} slices of ${requests} reads at 64 in flight and ${SERIAL} at 1, each build):\n`);
for (const current of sides) {
  process.stdout.write(
    `- ${current.name}: orchestrator ${((current.cpuMs / current.reads) * 1000).toFixed(1)} µs per read, ${(current.reads / current.seconds).toFixed(0)} reads/s, p50 at 1 in flight ${median(current.serialP50).toFixed(2)} ms (median of slices)\n`,
  );
}
