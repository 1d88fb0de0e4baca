/** Issue-level figures of the database service: db/read and db/write rates, and a worker's memory with 100,000 rides. */
import type { HttpClient } from '../harness/http.ts';
import { loadClient, runLoad, type LoadResult } from './lib/load.ts';
import { residentMegabytes, type BenchSystem } from './lib/system.ts';

export interface MemoryFigures {
  rides: number;
  workerRssMb: { pid: number; mb: number }[];
}

export async function seedBenchUser(system: BenchSystem): Promise<void> {
  const client = loadClient(system.orchestratorUrl);
  try {
    const created = await client.post('/api/v1/db/write', { op: 'insert', table: 'users', values: { username: 'bench', password: 'a'.repeat(40) } });
    if (created.status !== 200) throw new Error(`seeding failed: ${JSON.stringify(created.body)}`);
  } finally {
    await client.close();
  }
}

export async function measureDatabaseRates(system: BenchSystem, requests: number): Promise<LoadResult[]> {
  const client = loadClient(system.orchestratorUrl);
  try {
    const read = (i: number) =>
      client.post('/api/v1/db/read', { table: 'rides', where: { source: 1 + (i % 198), destination: 2 }, limit: 10 }).then((r) => r.status === 200);
    let ts = 1_900_000_000;
    const write = () =>
      client
        .post('/api/v1/db/write', { op: 'insert', table: 'rides', values: { created_by: 'bench', timestamp: ts++, source: 1, destination: 3 } })
        .then((r) => r.status === 200);
    const loads = [
      await runLoad({ label: 'db/read', concurrency: 1, requests: Math.min(requests, 3000), task: read }),
      await runLoad({ label: 'db/read', concurrency: 64, requests, task: read }),
      await runLoad({ label: 'db/write', concurrency: 1, requests: Math.min(requests, 3000), task: write }),
      await runLoad({ label: 'db/write', concurrency: 64, requests, task: write }),
    ];
    return loads;
  } finally {
    await client.close();
  }
}

export async function measureWorkerMemory(system: BenchSystem, rides: number): Promise<MemoryFigures> {
  const client = loadClient(system.orchestratorUrl);
  try {
    const stored = await fillRides(client, rides);
    const pids = (await client.get('/api/v1/worker/list')).body as number[];
    return { rides: stored, workerRssMb: pids.map((pid) => ({ pid, mb: residentMegabytes(pid) })) };
  } finally {
    await client.close();
  }
}

/** Tops the rides table up to `target` rows with 1000-row inserts, then waits until a slave has them. */
async function fillRides(client: HttpClient, target: number): Promise<number> {
  const count = async () => {
    const answer = await client.post('/api/v1/db/read', { table: 'rides', count: true, fresh: true });
    return (answer.body as { rows: { count: number }[] }).rows[0]?.count ?? 0;
  };
  let stored = await count();
  let ts = 1_950_000_000;
  while (stored < target) {
    const rows = Array.from({ length: Math.min(1000, target - stored) }, (_, i) => ({
      created_by: 'bench',
      timestamp: ts + i,
      source: 1 + (i % 198),
      destination: 1 + ((i + 7) % 198),
    }));
    ts += rows.length;
    const answer = await client.post('/api/v1/db/write', { op: 'insert', table: 'rides', rows });
    if (answer.status !== 200) throw new Error(`filling rides failed: ${JSON.stringify(answer.body)}`);
    stored += rows.length;
  }
  return count();
}
