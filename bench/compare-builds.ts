/**
 * `npx tsx bench/compare-builds.ts --baseline DIR [--rounds N] [--requests N] [--writes]`: the hot
 * path of this checkout against another checkout of the project (DIR, e.g. the main branch exported and
 * built), measured in one run: in each round both builds are started in turn as shipped (bench/lib/system.ts),
 * the order alternating from round to round, and each measures the bare RPC echo, db/read route
 * search at 1 and 64 in flight with the orchestrator's CPU per read, and the services' rows
 * (bench/services.ts). Every round is printed, then the medians of the ratios the issue names.
 * With --writes, each build measures single-row db/write (one ride) at 1 and 64 in flight instead,
 * without the services: the cost of what the write path does before it answers.
 */
import { rideMaker, routeOf, SEARCH_LIMIT, seedBenchData } from './database.ts';
import { runLoadWithCpu, type CpuLoadResult } from './lib/cpu.ts';
import { loadClient, median, runLoad, type LoadResult } from './lib/load.ts';
import { ECHO_LABEL, measureRpcEcho } from './lib/rpc-echo.ts';
import { startBenchSystem } from './lib/system.ts';
import { CREATE_VIA_GATEWAY, measureServices, ORCHESTRATOR_READ, SEARCH_VIA_GATEWAY, type ServiceLoadResult } from './services.ts';

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

const baseline = option('baseline');
if (baseline === undefined) throw new Error('--baseline DIR is needed: a built checkout of the project to compare with');
const rounds = Number(option('rounds') ?? '3');
const requests = Number(option('requests') ?? '8000');
const writesOnly = process.argv.includes('--writes');
/** The longest write run at 1 in flight: one at a time, a few thousand take a minute already. */
const SERIAL_WRITES = 2000;

interface BuildFigures {
  echo1: LoadResult;
  echo64: LoadResult;
  read1: CpuLoadResult;
  read64: CpuLoadResult;
  services: ServiceLoadResult[];
}

async function measureBuild(root: string | undefined): Promise<BuildFigures> {
  const system = await startBenchSystem({ withServices: true, ...(root === undefined ? {} : { root }) });
  try {
    await seedBenchData(system);
    const echo = (await measureRpcEcho(system.amqpUrl, requests)).filter((row) => row.label === ECHO_LABEL);
    const client = loadClient(system.orchestratorUrl);
    let read1: CpuLoadResult;
    let read64: CpuLoadResult;
    try {
      const status = (await client.get('/api/v1/cluster')).body as { orchestrators: { pid: number }[] };
      const groups = { orchestrator: status.orchestrators.map((orchestrator) => orchestrator.pid) };
      const rowsOf = (body: unknown) => ((body as { rows?: unknown })?.rows as unknown[] | undefined)?.length;
      const readRoute = (i: number) => client.post('/api/v1/db/read', { table: 'rides', where: routeOf(i), limit: SEARCH_LIMIT }).then((r) => r.status === 200 && rowsOf(r.body) === SEARCH_LIMIT);
      read1 = await runLoadWithCpu({ label: 'db/read route search', concurrency: 1, requests: Math.min(requests, 3000), task: readRoute }, groups);
      read64 = await runLoadWithCpu({ label: 'db/read route search', concurrency: 64, requests, task: readRoute }, groups);
    } finally {
      await client.close();
    }
    const services = await measureServices(system, requests);
    return { echo1: echo[0] as LoadResult, echo64: echo[1] as LoadResult, read1, read64, services };
  } finally {
    await system.stop();
  }
}

/** Single-row writes (one ride each, where no search looks) at 1 and 64 in flight. */
async function measureWrites(root: string | undefined, round: number): Promise<Record<string, number>> {
  const system = await startBenchSystem({ withServices: false, ...(root === undefined ? {} : { root }) });
  try {
    await seedBenchData(system);
    const client = loadClient(system.orchestratorUrl);
    try {
      const ride = rideMaker(1_900_000_000 + round * 1_000_000);
      const write = () => client.post('/api/v1/db/write', { op: 'insert', table: 'rides', values: ride() }).then((r) => r.status === 200);
      const one = await runLoad({ label: 'db/write', concurrency: 1, requests: Math.min(requests, SERIAL_WRITES), task: write });
      const many = await runLoad({ label: 'db/write', concurrency: 64, requests, task: write });
      return {
        'db/write at 1, per s': one.rate,
        'db/write p50 at 1, ms': one.p50Ms,
        'db/write p99 at 1, ms': one.p99Ms,
        'db/write at 64, per s': many.rate,
        'db/write p50 at 64, ms': many.p50Ms,
        'db/write p99 at 64, ms': many.p99Ms,
        'db/write errors': one.errors + many.errors,
      };
    } finally {
      await client.close();
    }
  } finally {
    await system.stop();
  }
}

const rateOf = (figures: BuildFigures, label: string) => figures.services.find((row) => row.label === label)?.rate ?? Number.NaN;

/** The figures the issue's targets are stated in. */
function targets(figures: BuildFigures): Record<string, number> {
  return {
    'orchestrator µs CPU per db/read at 64': (figures.read64.cpuMsPerRequest.orchestrator ?? Number.NaN) * 1000,
    'db/read at 64 / echo at 64': figures.read64.rate / figures.echo64.rate,
    'db/read p50 at 1 / echo p50 at 1': figures.read1.p50Ms / figures.echo1.p50Ms,
    'ride search via gateway / db/read': rateOf(figures, SEARCH_VIA_GATEWAY) / rateOf(figures, ORCHESTRATOR_READ),
    'ride creation via gateway / db/read': rateOf(figures, CREATE_VIA_GATEWAY) / rateOf(figures, ORCHESTRATOR_READ),
    'db/read at 64, per s': figures.read64.rate,
    'echo at 64, per s': figures.echo64.rate,
    'db/read p50 at 1, ms': figures.read1.p50Ms,
    'echo p50 at 1, ms': figures.echo1.p50Ms,
    'ride search via gateway, per s': rateOf(figures, SEARCH_VIA_GATEWAY),
    'ride creation via gateway, per s': rateOf(figures, CREATE_VIA_GATEWAY),
    'services db/read (upcoming rides), per s': rateOf(figures, ORCHESTRATOR_READ),
  };
}

const builds = [
  { name: 'baseline', root: baseline },
  { name: 'this checkout', root: undefined },
];
const measured = new Map<string, Record<string, number>[]>(builds.map((build) => [build.name, []]));
for (let round = 0; round < rounds; round += 1) {
  const order = round % 2 === 0 ? builds : [...builds].reverse();
  for (const build of order) {
    const figures = writesOnly ? await measureWrites(build.root, round) : targets(await measureBuild(build.root));
    measured.get(build.name)?.push(figures);
    process.stdout.write(
      `round ${round + 1}, ${build.name}: ${Object.entries(figures)
        .map(([name, value]) => `${name} ${value.toFixed(name.includes('/') ? 2 : 0)}`)
        .join('; ')}\n`,
    );
  }
}
process.stdout.write(`\nmedians (${rounds} rounds, ${requests} requests per row; baseline ${baseline}):\n`);
const names = Object.keys(measured.get('baseline')?.[0] ?? {});
for (const name of names) {
  const cells = builds.map((build) => median((measured.get(build.name) ?? []).map((figures) => figures[name] ?? Number.NaN)));
  process.stdout.write(`- ${name}: ${builds.map((build, index) => `${build.name} ${(cells[index] as number).toFixed(name.includes('/') || name.includes('p50') ? 2 : 0)}`).join(', ')}\n`);
}
