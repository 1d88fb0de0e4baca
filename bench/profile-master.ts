/**
 * `npx tsx bench/profile-master.ts [--requests N] [--rounds N] [--out DIR]`: the master worker of a
 * bench system as shipped (bench/lib/system.ts) under single-row db/write at 64 in flight, its CPU
 * per write from /proc each round, and a CPU profile of its second round, summarized by where
 * the time goes (kept in DIR for Chrome's DevTools).
 */
import path from 'node:path';
import { rideMaker, seedBenchData } from './database.ts';
import { attachProfiler, summarizeProfile } from './lib/cpu-profile.ts';
import { REST_OF_MACHINE, runLoadWithCpu } from './lib/cpu.ts';
import { loadClient } from './lib/load.ts';
import { startBenchSystem } from './lib/system.ts';

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const requests = Number(option('requests', '6000'));
const rounds = Number(option('rounds', '3'));
const out = option('out', '/tmp');
const system = await startBenchSystem({ withServices: false });
try {
  await seedBenchData(system);
  const client = loadClient(system.orchestratorUrl);
  const status = (await client.get('/api/v1/cluster')).body as { workers: { pid: number; role: string }[]; orchestrators: { pid: number }[] };
  const master = status.workers.find((worker) => worker.role === 'master')?.pid as number;
  const slaves = status.workers.filter((worker) => worker.role === 'slave').map((worker) => worker.pid);
  const orchestrators = status.orchestrators.map((orchestrator) => orchestrator.pid);
  const profiler = await attachProfiler(master);
  const file = path.join(out, `master-${Date.now()}.cpuprofile`);
  const nextRide = rideMaker(1_700_000_000);
  const write = () => client.post('/api/v1/db/write', { op: 'insert', table: 'rides', values: nextRide() }).then((r) => r.status === 200);
  for (let round = 0; round < rounds; round += 1) {
    if (round === 1) await profiler.start();
    const result = await runLoadWithCpu({ label: 'db/write', concurrency: 64, requests, task: write }, { master: [master], slaves, orchestrators });
    if (round === 1) await profiler.stopTo(file);
    const us = (value: number | undefined) => ((value ?? Number.NaN) * 1000).toFixed(0);
    process.stdout.write(
      `round ${round + 1}${round === 1 ? ' (profiled)' : ''}: ${result.rate.toFixed(0)} writes/s p50 ${result.p50Ms.toFixed(1)} ms; µs per write: master ${us(result.cpuMsPerRequest.master)}, slaves ${us(result.cpuMsPerRequest.slaves)}, orchestrators ${us(result.cpuMsPerRequest.orchestrators)}, rest ${us(result.cpuMsPerRequest[REST_OF_MACHINE])}; errors ${result.errors}\n`,
    );
  }
  profiler.close();
  await client.close();
  process.stdout.write(`\nThe master's busy time in the profiled round, by place (${file}):\n${summarizeProfile(file)}\n`);
} finally {
  await system.stop();
}
