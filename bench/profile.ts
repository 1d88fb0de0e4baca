/**
 * `npx tsx bench/profile.ts [--requests N] [--rounds N] [--out DIR] [--root CHECKOUT]`: the
 * orchestrator of a bench system as shipped (bench/lib/system.ts) under db/read at 64 in flight,
 * its CPU per read from /proc each round, and a CPU profile of its second round, summarized by
 * where the time goes (the profile itself is kept in DIR for a closer look in Chrome's DevTools).
 * `--root`: the build of another checkout of the project instead of this one's, for a before and after.
 */
import path from 'node:path';
import { BENCH_USER, routeOf, SEARCH_LIMIT, seedBenchData } from './database.ts';
import { attachProfiler, summarizeProfile } from './lib/cpu-profile.ts';
import { REST_OF_MACHINE, runLoadWithCpu } from './lib/cpu.ts';
import { loadClient } from './lib/load.ts';
import { startBenchSystem } from './lib/system.ts';

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const requests = Number(option('requests', '10000'));
const rounds = Number(option('rounds', '3'));
const out = option('out', '/tmp');
const root = option('root', '');
const system = await startBenchSystem({ withServices: false, ...(root === '' ? {} : { root }) });
try {
  await seedBenchData(system);
  const client = loadClient(system.orchestratorUrl);
  const status = (await client.get('/api/v1/cluster')).body as { orchestrators: { pid: number }[] };
  const pids = status.orchestrators.map((orchestrator) => orchestrator.pid);
  const profiler = await attachProfiler(pids[0] as number);
  const file = path.join(out, `orchestrator-${Date.now()}.cpuprofile`);
  const read = (i: number) => client.post('/api/v1/db/read', { table: 'rides', where: routeOf(i), limit: SEARCH_LIMIT }).then((r) => r.status === 200);
  const point = () => client.post('/api/v1/db/read', { table: 'users', where: { username: BENCH_USER.username } }).then((r) => r.status === 200);
  for (let round = 0; round < rounds; round += 1) {
    if (round === 1) await profiler.start();
    const search = await runLoadWithCpu({ label: 'route search', concurrency: 64, requests, task: read }, { orchestrator: pids });
    const user = await runLoadWithCpu({ label: 'point read', concurrency: 64, requests, task: point }, { orchestrator: pids });
    if (round === 1) await profiler.stopTo(file);
    const us = (value: number | undefined) => ((value ?? Number.NaN) * 1000).toFixed(0);
    process.stdout.write(
      `round ${round + 1}${round === 1 ? ' (profiled)' : ''}: route search ${search.rate.toFixed(0)}/s, orchestrator ${us(search.cpuMsPerRequest.orchestrator)} µs per read, rest of machine ${us(search.cpuMsPerRequest[REST_OF_MACHINE])} µs; ` +
        `point read ${user.rate.toFixed(0)}/s, orchestrator ${us(user.cpuMsPerRequest.orchestrator)} µs per read; errors ${search.errors + user.errors}\n`,
    );
  }
  profiler.close();
  await client.close();
  process.stdout.write(`\nThe orchestrator's busy time in the profiled round, by place (${file}):\n${summarizeProfile(file)}\n`);
} finally {
  await system.stop();
}
