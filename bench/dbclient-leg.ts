/**
 * `npx tsx bench/dbclient-leg.ts [--requests N] [--rounds N]`: the services' leg to the database
 * service alone: the services' database client (src/services/dbclient) in this process sending
 * route searches, 64 in flight, to an orchestrator as shipped (bench/lib/system.ts), with its
 * keep-alive pool shaped several ways (connections × calls pipelined on each), the shapes taken in
 * a rotating order each round. Per shape: reads per second, and CPU per read of the orchestrator
 * and of this process (the client side of the leg, plus the load loop, the same for every shape).
 */
import { DbClient } from '../src/services/dbclient/db-client.ts';
import { routeOf, SEARCH_LIMIT, seedBenchData } from './database.ts';
import { BENCH_PROCESS, runLoadWithCpu } from './lib/cpu.ts';
import { loadClient, median } from './lib/load.ts';
import { startBenchSystem } from './lib/system.ts';
import { BENCH_TOKENS } from './lib/tokens.ts';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

const requests = option('requests', 8000);
const rounds = option('rounds', 3);
const IN_FLIGHT = 64;
const SHAPES = [
  { connections: 64, pipelining: 1 },
  { connections: 16, pipelining: 4 },
  { connections: 8, pipelining: 8 },
  { connections: 4, pipelining: 16 },
];
const nameOf = (shape: { connections: number; pipelining: number }) => `${shape.connections} connections × ${shape.pipelining}`;

const system = await startBenchSystem({ withServices: false });
const figures = new Map<string, { rate: number; orchestratorUs: number; clientUs: number }[]>(SHAPES.map((shape) => [nameOf(shape), []]));
try {
  await seedBenchData(system);
  const admin = loadClient(system.orchestratorUrl);
  const status = (await admin.get('/api/v1/cluster')).body as { orchestrators: { pid: number }[] };
  await admin.close();
  const groups = { orchestrator: status.orchestrators.map((orchestrator) => orchestrator.pid) };
  for (let round = 0; round < rounds; round += 1) {
    const order = SHAPES.map((_, index) => SHAPES[(index + round) % SHAPES.length] as (typeof SHAPES)[number]);
    for (const shape of order) {
      const client = new DbClient({ urls: [system.orchestratorUrl], token: BENCH_TOKENS.service, timeoutMs: 8000, ...shape });
      try {
        const task = (i: number) => client.read({ table: 'rides', where: routeOf(i), limit: SEARCH_LIMIT }).then((answer) => answer.rows.length === SEARCH_LIMIT);
        const result = await runLoadWithCpu({ label: nameOf(shape), concurrency: IN_FLIGHT, requests, task }, groups);
        const row = { rate: result.rate, orchestratorUs: (result.cpuMsPerRequest.orchestrator ?? Number.NaN) * 1000, clientUs: (result.cpuMsPerRequest[BENCH_PROCESS] ?? Number.NaN) * 1000 };
        figures.get(nameOf(shape))?.push(row);
        process.stdout.write(
          `round ${round + 1}, ${nameOf(shape)}: ${row.rate.toFixed(0)}/s, orchestrator ${row.orchestratorUs.toFixed(0)} µs, this process ${row.clientUs.toFixed(0)} µs per read, errors ${result.errors}\n`,
        );
      } finally {
        await client.close();
      }
    }
  }
} finally {
  await system.stop();
}
process.stdout.write(`\nmedians of ${rounds} rounds, ${requests} reads each, ${IN_FLIGHT} in flight:\n`);
for (const [name, rows] of figures) {
  process.stdout.write(
    `- ${name}: ${median(rows.map((row) => row.rate)).toFixed(0)}/s, orchestrator ${median(rows.map((row) => row.orchestratorUs)).toFixed(0)} µs, this process ${median(rows.map((row) => row.clientUs)).toFixed(0)} µs per read\n`,
  );
}
