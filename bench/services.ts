/**
 * Issue 3's figures: ride search and ride creation end to end through the gateway, next to the
 * orchestrator's own db/read rate for the query a search makes and to the same search sent to
 * the rides service directly, so the cost of each hop shows. Every row also tells how much CPU
 * each process of the system spent per request (from /proc): on a machine this small the rates
 * are set by CPU, so that is where a missed target is explained.
 */
import fs from 'node:fs';
import { formatTimestamp, parseTimestamp } from '../src/services/rides/timestamp.ts';
import type { HttpClient } from '../harness/http.ts';
import { listenerPid, machineBusyMs, processCpuMs } from './lib/cpu.ts';
import { formatTable, loadClient, median, runLoad, type LoadResult } from './lib/load.ts';
import { startBenchSystem, type BenchSystem } from './lib/system.ts';

export const ORCHESTRATOR_READ = 'db/read (upcoming-rides query)';
export const SEARCH_VIA_GATEWAY = 'GET /api/v1/rides via gateway';
export const SEARCH_DIRECT = 'GET /api/v1/rides, rides direct';
export const CREATE_VIA_GATEWAY = 'POST /api/v1/rides via gateway';

const IN_FLIGHT = 64;
const USERS = 64;
/** Searched routes: source 1..20 to 198, five upcoming rides each, so every answer is 200 with rows. */
const SEARCH_ROUTES = 20;
const SEARCH_DESTINATION = 198;
const RIDES_PER_ROUTE = 5;
/** Created rides go where no search looks, so answers keep their size from round to round. */
const CREATE_DESTINATION = 197;
const PASSWORD = 'b'.repeat(40);
/** The services run on the real clock; rides in 2035 stay upcoming. */
const YEAR_2035 = parseTimestamp('01-01-2035:00-00-00') as number;

export interface ServiceLoadResult extends LoadResult {
  /** CPU milliseconds per request, by process group (see CPU_COLUMNS). */
  cpuMsPerRequest: Record<string, number>;
  /** Worker processes at the end of the row: the orchestrator may scale slaves with the read load. */
  workers: number;
}

/** The processes of one bench system, found by the DATA_DIR they were started with. */
interface SystemProcesses {
  byRole: Map<string, number[]>;
  ridesPort: number;
}

/** By the entry point in a process's command line, compiled (dist/…/main.js, the worker's main.bundle.js) or not. */
const ROLES: [string, string][] = [
  ['services/gateway/main.', 'gateway'],
  ['services/rides/main.', 'rides'],
  ['services/users/main.', 'users'],
  ['dbaas/orchestrator/main.', 'orchestrator'],
  ['dbaas/worker/main.', 'workers'],
];

export const CPU_COLUMNS = ['gateway', 'rides', 'users', 'orchestrator', 'workers', 'rabbitmq', 'bench client', 'rest of machine'];

function findSystemProcesses(system: BenchSystem): SystemProcesses {
  const byRole = new Map<string, number[]>();
  let ridesPort: number | undefined;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string[];
    let cmdline: string;
    try {
      environ = fs.readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0');
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'latin1');
    } catch {
      continue;
    }
    // A worker is known by the cluster in its argv tag (src/dbaas/runtime/worker-processes.ts): its environment is its own.
    if (!environ.includes(`DATA_DIR=${system.dataDir}`) && !cmdline.includes(`--rideshare-worker=${system.env.RIDESHARE_CLUSTER}/`)) continue;
    const role = ROLES.find(([script]) => cmdline.includes(script))?.[1];
    if (role === undefined) continue;
    byRole.set(role, [...(byRole.get(role) ?? []), Number(entry)]);
    if (role === 'rides') ridesPort = Number(environ.find((line) => line.startsWith('RIDES_PORT='))?.slice('RIDES_PORT='.length));
  }
  if (ridesPort === undefined || Number.isNaN(ridesPort)) throw new Error('no rides process of this bench system found in /proc');
  const broker = brokerPid(new URL(system.amqpUrl).port || '5672');
  if (broker !== undefined) byRole.set('rabbitmq', [broker]);
  return { byRole, ridesPort };
}

const brokers = new Map<string, number | undefined>();

/** The process listening on the AMQP port, through its socket's inode; possibly shared with other users. */
function brokerPid(port: string): number | undefined {
  if (!brokers.has(port)) brokers.set(port, listenerPid(port));
  return brokers.get(port);
}

interface CpuSnapshot {
  byPid: Map<number, { role: string; ms: number }>;
  benchClientMs: number;
  machineMs: number;
}

function cpuSnapshot(system: BenchSystem): CpuSnapshot {
  const byPid = new Map<number, { role: string; ms: number }>();
  for (const [role, pids] of findSystemProcesses(system).byRole) for (const pid of pids) byPid.set(pid, { role, ms: processCpuMs(pid) ?? 0 });
  const own = process.cpuUsage();
  return { byPid, benchClientMs: (own.user + own.system) / 1000, machineMs: machineBusyMs() };
}

interface Row {
  label: string;
  requests: number;
  task(index: number): Promise<boolean>;
}

async function measure(system: BenchSystem, row: Row): Promise<ServiceLoadResult> {
  const options = { label: row.label, concurrency: IN_FLIGHT, task: row.task, warmup: 0 };
  // Warm-up outside the CPU window, so the figures per request are the measured requests' own.
  await runLoad({ ...options, requests: Math.min(500, Math.ceil(row.requests / 5)) });
  const before = cpuSnapshot(system);
  const result = await runLoad({ ...options, requests: row.requests });
  const after = cpuSnapshot(system);
  // By pid, so a worker started during the row counts from zero (one that exited is lost).
  const spent = new Map<string, number>();
  for (const [pid, { role, ms }] of after.byPid) spent.set(role, (spent.get(role) ?? 0) + ms - (before.byPid.get(pid)?.ms ?? 0));
  spent.set('bench client', after.benchClientMs - before.benchClientMs);
  const cpuMsPerRequest: Record<string, number> = {};
  let known = 0;
  for (const column of CPU_COLUMNS.slice(0, -1)) {
    const ms = spent.get(column) ?? 0;
    known += ms;
    cpuMsPerRequest[column] = ms / row.requests;
  }
  cpuMsPerRequest['rest of machine'] = Math.max(0, after.machineMs - before.machineMs - known) / row.requests;
  const workers = [...after.byPid.values()].filter((entry) => entry.role === 'workers').length;
  return { ...result, cpuMsPerRequest, workers };
}

async function ensureUsers(gateway: HttpClient, tag: string): Promise<string[]> {
  const names = Array.from({ length: USERS }, (_, i) => `bench-${tag}-${i}`);
  for (const username of names) {
    const answer = await gateway.put('/api/v1/users', { username, password: PASSWORD });
    if (answer.status !== 201) throw new Error(`creating ${username} failed: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return names;
}

/** Stores the searched rides once per system (their count on the first route tells whether it was done). */
async function ensureSearchRides(orchestrator: HttpClient, createdBy: string): Promise<void> {
  const counted = await orchestrator.post('/api/v1/db/read', { table: 'rides', where: { source: 1, destination: SEARCH_DESTINATION }, count: true, fresh: true });
  if (((counted.body as { rows: { count: number }[] }).rows[0]?.count ?? 0) > 0) return;
  const rows = Array.from({ length: SEARCH_ROUTES * RIDES_PER_ROUTE }, (_, i) => ({
    created_by: createdBy,
    timestamp: YEAR_2035 + 3600 * i,
    source: 1 + (i % SEARCH_ROUTES),
    destination: SEARCH_DESTINATION,
  }));
  const answer = await orchestrator.post('/api/v1/db/write', { op: 'insert', table: 'rides', rows });
  if (answer.status !== 200) throw new Error(`storing the searched rides failed: ${JSON.stringify(answer.body)}`);
}

function searchAnswered(rows: unknown): boolean {
  return Array.isArray(rows) && rows.length === RIDES_PER_ROUTE;
}

export async function measureServices(system: BenchSystem, requests: number): Promise<ServiceLoadResult[]> {
  if (system.gatewayUrl === undefined) throw new Error('measureServices needs a system started withServices');
  const processes = findSystemProcesses(system);
  const gateway = loadClient(system.gatewayUrl, IN_FLIGHT);
  const rides = loadClient(`http://127.0.0.1:${processes.ridesPort}`, IN_FLIGHT);
  const orchestrator = loadClient(system.orchestratorUrl, IN_FLIGHT);
  try {
    const users = await ensureUsers(gateway, Date.now().toString(36));
    await ensureSearchRides(orchestrator, users[0] as string);
    const route = (i: number) => ({ source: 1 + (i % SEARCH_ROUTES), destination: SEARCH_DESTINATION });
    const searchPath = (i: number) => `/api/v1/rides?source=${route(i).source}&destination=${SEARCH_DESTINATION}`;
    // The rides service's upcoming-rides read, as its database client sends it.
    const upcomingQuery = (i: number) => ({
      table: 'rides',
      where: { ...route(i), timestamp: { gt: Math.floor(Date.now() / 1000) } },
      orderBy: [
        { column: 'timestamp', direction: 'asc' },
        { column: 'ride_id', direction: 'asc' },
      ],
      fresh: true,
    });
    let second = YEAR_2035 + 86_400 * 30;
    const newRide = (i: number) => ({ created_by: users[i % USERS], timestamp: formatTimestamp(second++), source: 1 + (i % 150), destination: CREATE_DESTINATION });
    const rows: Row[] = [
      {
        label: ORCHESTRATOR_READ,
        requests,
        task: (i) => orchestrator.post('/api/v1/db/read', upcomingQuery(i)).then((r) => r.status === 200 && searchAnswered((r.body as { rows: unknown }).rows)),
      },
      { label: SEARCH_VIA_GATEWAY, requests, task: (i) => gateway.get(searchPath(i)).then((r) => r.status === 200 && searchAnswered(r.body)) },
      { label: SEARCH_DIRECT, requests, task: (i) => rides.get(searchPath(i)).then((r) => r.status === 200 && searchAnswered(r.body)) },
      { label: CREATE_VIA_GATEWAY, requests, task: (i) => gateway.post('/api/v1/rides', newRide(i)).then((r) => r.status === 201) },
    ];
    const results: ServiceLoadResult[] = [];
    for (const row of rows) results.push(await measure(system, row));
    return results;
  } finally {
    await Promise.all([gateway.close(), rides.close(), orchestrator.close()]);
  }
}

/** One line per row: CPU ms per request by process and their sum; a row's rate is about the machine's cores over that sum. */
export function formatCpuTable(results: ServiceLoadResult[]): string {
  const header = ['CPU ms per request', ...CPU_COLUMNS, 'sum', 'worker processes'];
  const rows = results.map((result) => {
    const values = CPU_COLUMNS.map((column) => result.cpuMsPerRequest[column] ?? 0);
    return [result.label, ...values.map((value) => value.toFixed(3)), values.reduce((a, b) => a + b, 0).toFixed(3), String(result.workers)];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column] as number)).join(' | ')} |`;
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function rateOf(round: ServiceLoadResult[], label: string): number {
  return round.find((result) => result.label === label)?.rate ?? Number.NaN;
}

/** Per round and the median of a ratio of two rows' rates, in percent. */
function ratioLine(rounds: ServiceLoadResult[][], what: string, top: string, bottom: string, target?: number): string {
  const ratios = rounds.map((round) => (rateOf(round, top) / rateOf(round, bottom)) * 100);
  const goal = target === undefined ? '' : ` (target >= ${target}%)`;
  return `${what}, per round: ${ratios.map((ratio) => `${ratio.toFixed(0)}%`).join(', ')}; median ${median(ratios).toFixed(0)}%${goal}`;
}

/**
 * `npm run bench`'s services section: its own system (orchestrator, users, rides, gateway as
 * processes), `rounds` rounds of measureServices, the round with the median rate per row, and
 * the ratios taken within each round.
 */
export async function servicesSection(requests: number, rounds: number): Promise<string> {
  const system = await startBenchSystem({ withServices: true });
  const measured: ServiceLoadResult[][] = [];
  try {
    for (let round = 0; round < rounds; round += 1) measured.push(await measureServices(system, requests));
  } finally {
    await system.stop();
  }
  const medians = (measured[0] ?? []).map((row) => {
    const same = measured.map((round) => round.find((result) => result.label === row.label) as ServiceLoadResult);
    return [...same].sort((a, b) => a.rate - b.rate)[Math.floor(same.length / 2)] as ServiceLoadResult;
  });
  return [
    `## Services through the gateway (${new Date().toISOString()}; ${requests} requests per row, ${IN_FLIGHT} in flight; median of ${rounds} rounds)`,
    '',
    formatTable(medians),
    '',
    formatCpuTable(medians),
    '',
    'Every round, rate/s (p50 ms):',
    ...medians.map(
      (row) =>
        `- ${row.label}: ${measured
          .map((round) => round.find((result) => result.label === row.label))
          .map((result) => (result === undefined ? '–' : `${result.rate.toFixed(0)} (${result.p50Ms.toFixed(2)})`))
          .join(', ')}`,
    ),
    '',
    ratioLine(measured, 'ride search via gateway / orchestrator db/read', SEARCH_VIA_GATEWAY, ORCHESTRATOR_READ, 70),
    ratioLine(measured, 'ride search direct to rides / orchestrator db/read', SEARCH_DIRECT, ORCHESTRATOR_READ),
    ratioLine(measured, 'ride search via gateway / direct to rides', SEARCH_VIA_GATEWAY, SEARCH_DIRECT),
    ratioLine(measured, 'ride creation via gateway / orchestrator db/read', CREATE_VIA_GATEWAY, ORCHESTRATOR_READ, 35),
  ].join('\n');
}
