/**
 * Issue-level figures of the database service: db/read (a user by name, rides on a route) and
 * db/write (one ride) at 1 and 64 in flight, next to the bare RPC echo and, when a server answers,
 * PostgreSQL holding the same rows (bench/postgres.ts), measured back to back in each round; and
 * a worker's memory with 100,000 rides.
 */
import fs from 'node:fs';
import type { HttpClient } from '../harness/http.ts';
import { commandLine, listenerPid, pidsNamed, runLoadWithCpu, type CpuLoadResult, type ProcessGroups } from './lib/cpu.ts';
import { loadClient, type LoadResult } from './lib/load.ts';
import { ECHO_EXCLUSIVE_LABEL, ECHO_LABEL, measureRpcEcho } from './lib/rpc-echo.ts';
import { residentMegabytes, type BenchSystem } from './lib/system.ts';
import type { BenchRide, PostgresAnchor } from './postgres.ts';

export interface MemoryFigures {
  rides: number;
  workerRssMb: { pid: number; mb: number }[];
}

export const ECHO = ECHO_LABEL;
export const ECHO_EXCLUSIVE = ECHO_EXCLUSIVE_LABEL;
export const OURS = {
  point: 'db/read point (user by name)',
  route: 'db/read route search',
  insert: 'db/write insert (1 ride)',
} as const;
export const POSTGRES = {
  point: 'PostgreSQL point read',
  route: 'PostgreSQL route search',
  insertSyncOn: 'PostgreSQL insert, synchronous_commit on',
  insertSyncOff: 'PostgreSQL insert, synchronous_commit off',
} as const;

/** The rows every measurement starts from, ours and PostgreSQL's alike. */
export const BENCH_USER = { username: 'bench', password: 'a'.repeat(40) };
/** Route searches ask for source 1..198 to destination 2, at most SEARCH_LIMIT rides. */
const SEARCHED_SOURCES = 198;
const SEARCH_DESTINATION = 2;
export const SEARCH_LIMIT = 10;
/** More rides on each searched route than a search answers, so every search answers SEARCH_LIMIT rows. */
const RIDES_PER_ROUTE = 2 * SEARCH_LIMIT;
/** Inserted rides go where no search looks, so searches answer alike from round to round. */
const INSERT_DESTINATION = 3;

export function routeOf(index: number): { source: number; destination: number } {
  return { source: 1 + (index % SEARCHED_SOURCES), destination: SEARCH_DESTINATION };
}

export function benchRides(): BenchRide[] {
  return Array.from({ length: SEARCHED_SOURCES * RIDES_PER_ROUTE }, (_, i) => ({
    created_by: BENCH_USER.username,
    timestamp: 1_800_000_000 + i,
    ...routeOf(i),
  }));
}

/** Successive rides to insert, each with a timestamp of its own. */
export function rideMaker(firstTimestamp: number): () => BenchRide {
  let timestamp = firstTimestamp;
  return () => ({ created_by: BENCH_USER.username, timestamp: timestamp++, source: 1, destination: INSERT_DESTINATION });
}

/** Stores BENCH_USER and benchRides() in the system. */
export async function seedBenchData(system: BenchSystem): Promise<void> {
  const client = loadClient(system.orchestratorUrl);
  try {
    const created = await client.post('/api/v1/db/write', { op: 'insert', table: 'users', values: BENCH_USER });
    if (created.status !== 200) throw new Error(`seeding failed: ${JSON.stringify(created.body)}`);
    const rides = benchRides();
    for (let start = 0; start < rides.length; start += 1000) {
      const answer = await client.post('/api/v1/db/write', { op: 'insert', table: 'rides', rows: rides.slice(start, start + 1000) });
      if (answer.status !== 200) throw new Error(`seeding rides failed: ${JSON.stringify(answer.body)}`);
    }
  } finally {
    await client.close();
  }
}

export interface RoundResult extends CpuLoadResult {
  round: number;
}

/** Where the broker's CPU is taken from, said once in the figures. */
export interface BrokerProcesses {
  pids: number[];
  description: string;
}

/** The RabbitMQ broker of the bench's AMQP port: the beam.smp listening on it, else every beam.smp of the machine. */
export function findBroker(amqpUrl: string): BrokerProcesses {
  const port = new URL(amqpUrl).port || '5672';
  const listener = listenerPid(port);
  if (listener !== undefined && commandLine(listener).includes('beam.smp')) {
    return { pids: [listener], description: `RabbitMQ: beam.smp pid ${listener}, the process listening on AMQP port ${port} (the machine's broker may serve other clients too)` };
  }
  const all = pidsNamed('beam.smp');
  return { pids: all, description: `RabbitMQ: the listener of AMQP port ${port} could not be singled out; every beam.smp of the machine (${all.join(', ') || 'none found'})` };
}

/** Our processes by role: the cluster's orchestrators, the master and the slaves (from worker/list), the broker. */
export async function ourProcessGroups(client: HttpClient, broker: BrokerProcesses): Promise<ProcessGroups> {
  const workers = (await client.get('/api/v1/worker/list')).body as number[];
  const status = (await client.get('/api/v1/cluster')).body as { master: { pid: number } | null; orchestrators: { pid: number }[] };
  const local = (pid: number) => fs.existsSync(`/proc/${pid}`);
  return {
    orchestrator: status.orchestrators.map((orchestrator) => orchestrator.pid).filter(local),
    master: workers.filter((pid) => pid === status.master?.pid),
    slaves: workers.filter((pid) => pid !== status.master?.pid),
    rabbitmq: broker.pids,
  };
}

interface Pair {
  concurrency: number;
  requests: number;
  ours: { label: string; task(index: number): Promise<boolean> };
  postgres: { label: string; synchronousCommit: boolean; task(index: number): Promise<boolean> }[];
}

/** The longest run at 1 in flight: 20,000 one at a time would take minutes on this machine. */
export const SERIAL_REQUESTS = 3000;

/** The body of a db/read point read: BENCH_USER by name. */
export const POINT_READ = { table: 'users', where: { username: BENCH_USER.username } };

/** db/read point read through `client`, true when it answers BENCH_USER's one row. */
export function pointReadTask(client: HttpClient): () => Promise<boolean> {
  return () => client.post('/api/v1/db/read', POINT_READ).then((r) => r.status === 200 && rowsOf(r.body) === 1);
}

/** How many rows a db/read answer holds (undefined for anything else). */
function rowsOf(body: unknown): number | undefined {
  return ((body as { rows?: unknown })?.rows as unknown[] | undefined)?.length;
}

/**
 * One round: the bare RPC echo, then each workload of ours with PostgreSQL's of the same shape
 * right before or after it (ours first in even rounds, PostgreSQL first in odd ones), so every
 * ratio is taken between neighbours. Each row carries CPU per request by process group.
 */
export async function measureDatabaseRound(system: BenchSystem, options: { requests: number; round: number; broker: BrokerProcesses; postgres?: PostgresAnchor | undefined }): Promise<RoundResult[]> {
  const { requests, round, broker, postgres } = options;
  const results: RoundResult[] = (await measureRpcEcho(system.amqpUrl, requests)).map((result) => withRound(result, round));
  const client = loadClient(system.orchestratorUrl);
  try {
    const ourRide = rideMaker(1_900_000_000 + round * 1_000_000);
    const theirRide = rideMaker(1_900_000_000 + round * 1_000_000);
    const readPoint = pointReadTask(client);
    const readRoute = (i: number) => client.post('/api/v1/db/read', { table: 'rides', where: routeOf(i), limit: SEARCH_LIMIT }).then((r) => r.status === 200 && rowsOf(r.body) === SEARCH_LIMIT);
    const write = () => client.post('/api/v1/db/write', { op: 'insert', table: 'rides', values: ourRide() }).then((r) => r.status === 200);
    const pairs: Pair[] = [1, 64].flatMap((concurrency) => {
      const count = concurrency === 1 ? Math.min(requests, SERIAL_REQUESTS) : requests;
      return [
        {
          concurrency,
          requests: count,
          ours: { label: OURS.point, task: readPoint },
          postgres: postgres ? [{ label: POSTGRES.point, synchronousCommit: true, task: () => postgres.pointRead(BENCH_USER.username) }] : [],
        },
        {
          concurrency,
          requests: count,
          ours: { label: OURS.route, task: readRoute },
          postgres: postgres
            ? [{ label: POSTGRES.route, synchronousCommit: true, task: (i: number) => postgres.routeSearch(routeOf(i).source, routeOf(i).destination, SEARCH_LIMIT).then((n) => n === SEARCH_LIMIT) }]
            : [],
        },
        {
          concurrency,
          requests: count,
          ours: { label: OURS.insert, task: write },
          postgres: postgres
            ? [true, false].map((synchronousCommit) => ({
                label: synchronousCommit ? POSTGRES.insertSyncOn : POSTGRES.insertSyncOff,
                synchronousCommit,
                task: () => postgres.insertRide(theirRide(), synchronousCommit),
              }))
            : [],
        },
      ];
    });
    for (const pair of pairs) {
      const ours = async () => {
        const groups = await ourProcessGroups(client, broker);
        results.push(withRound(await runLoadWithCpu({ label: pair.ours.label, concurrency: pair.concurrency, requests: pair.requests, task: pair.ours.task }, groups), round));
      };
      const theirs = async () => {
        const sides = round % 2 === 0 ? pair.postgres : [...pair.postgres].reverse();
        for (const side of sides) {
          const groups = postgres?.processGroups(side.synchronousCommit) ?? {};
          results.push(withRound(await runLoadWithCpu({ label: side.label, concurrency: pair.concurrency, requests: pair.requests, task: side.task }, groups), round));
        }
      };
      if (round % 2 === 0) {
        await ours();
        await theirs();
      } else {
        await theirs();
        await ours();
      }
    }
    return results;
  } finally {
    await client.close();
  }
}

function withRound(result: LoadResult | CpuLoadResult, round: number): RoundResult {
  return { cpuMsPerRequest: {}, ...result, round };
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
