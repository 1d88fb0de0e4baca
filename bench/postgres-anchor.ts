/**
 * The PostgreSQL anchor's figures: every round of the database section (ours, PostgreSQL's and
 * the bare RPC echo, measured back to back), the ratios within each round and their medians, and
 * CPU per request by process. Part of `npm run bench`; on its own:
 * `npx tsx bench/postgres-anchor.ts [--rounds N] [--requests N]` (PG_URL, default
 * postgres://127.0.0.1:5432/test; skipped with one line when no server answers within 2 s).
 */
import { pathToFileURL } from 'node:url';
import { BENCH_PROCESS, REST_OF_MACHINE } from './lib/cpu.ts';
import { median } from './lib/load.ts';
import { startBenchSystem } from './lib/system.ts';
import { ECHO, ECHO_EXCLUSIVE, OURS, POSTGRES, benchRides, BENCH_USER, findBroker, measureDatabaseRound, seedBenchData, type BrokerProcesses, type RoundResult } from './database.ts';
import { DEFAULT_PG_URL, POOL_SIZE, PostgresAnchor, printableUrl, type Skipped } from './postgres.ts';

export interface AnchorContext {
  requests: number;
  broker: BrokerProcesses;
  /** The anchor measured, or why it was skipped. */
  postgres: PostgresAnchor | Skipped;
}

/** Opens the anchor at PG_URL (or the default), or says in one line why it is skipped. */
export async function openPostgresAnchor(): Promise<PostgresAnchor | Skipped> {
  return PostgresAnchor.open(process.env.PG_URL ?? DEFAULT_PG_URL);
}

function find(round: RoundResult[], label: string, concurrency: number): RoundResult | undefined {
  return round.find((result) => result.label === label && result.concurrency === concurrency);
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** One row per measurement, one column per round: rate/s · p50 ms · p99 ms (and errors, if any). */
function roundsTable(rounds: RoundResult[][]): string {
  const first = rounds[0] ?? [];
  const cell = (result: RoundResult | undefined) =>
    result === undefined ? '–' : `${fixed(result.rate, 0)} · ${fixed(result.p50Ms, 2)} · ${fixed(result.p99Ms, 2)}${result.errors > 0 ? ` (${result.errors} errors)` : ''}`;
  const order = [...first].sort((a, b) => a.concurrency - b.concurrency);
  const rows = order.map((row) => {
    const same = rounds.map((round) => find(round, row.label, row.concurrency));
    const known = same.filter((result): result is RoundResult => result !== undefined);
    const medians = `${fixed(median(known.map((r) => r.rate)), 0)} · ${fixed(median(known.map((r) => r.p50Ms)), 2)} · ${fixed(median(known.map((r) => r.p99Ms)), 2)}`;
    return [row.label, String(row.concurrency), ...same.map(cell), medians];
  });
  return table(['measure', 'in flight', ...rounds.map((_, i) => `round ${i + 1}`), 'median'], rows);
}

interface Ratio {
  name: string;
  target: string;
  of(round: RoundResult[]): number;
}

const rate = (label: string, concurrency: number) => (round: RoundResult[]) => find(round, label, concurrency)?.rate ?? Number.NaN;
const p50 = (label: string, concurrency: number) => (round: RoundResult[]) => find(round, label, concurrency)?.p50Ms ?? Number.NaN;

const cpuUs = (label: string, concurrency: number, group: string) => (round: RoundResult[]) => (find(round, label, concurrency)?.cpuMsPerRequest[group] ?? Number.NaN) * 1000;

const RATIOS: Ratio[] = [
  { name: 'db/read route search @64 ÷ bare RPC echo @64 (rate)', target: '≥ 0.75×', of: (r) => rate(OURS.route, 64)(r) / rate(ECHO, 64)(r) },
  { name: 'db/read point @64 ÷ bare RPC echo @64 (rate)', target: '≥ 0.75×', of: (r) => rate(OURS.point, 64)(r) / rate(ECHO, 64)(r) },
  { name: 'bare RPC echo, exclusive reply queue @64 ÷ direct reply-to @64 (rate)', target: '(reported)', of: (r) => rate(ECHO_EXCLUSIVE, 64)(r) / rate(ECHO, 64)(r) },
  { name: 'orchestrator CPU µs per db/read route search @64 (not a ratio)', target: '≤ 40', of: cpuUs(OURS.route, 64, 'orchestrator') },
  { name: 'orchestrator CPU µs per db/read point @64 (not a ratio)', target: '≤ 40', of: cpuUs(OURS.point, 64, 'orchestrator') },
  { name: 'orchestrator CPU µs per db/write @64 (not a ratio)', target: '(reported)', of: cpuUs(OURS.insert, 64, 'orchestrator') },
  { name: 'db/read point @64 ÷ PostgreSQL point read @64 (rate)', target: '≥ 1.0×', of: (r) => rate(OURS.point, 64)(r) / rate(POSTGRES.point, 64)(r) },
  { name: 'db/read route search @64 ÷ PostgreSQL route search @64 (rate)', target: '', of: (r) => rate(OURS.route, 64)(r) / rate(POSTGRES.route, 64)(r) },
  { name: 'db/write @64 ÷ PostgreSQL insert @64, synchronous_commit on (rate)', target: '≥ 1.0×', of: (r) => rate(OURS.insert, 64)(r) / rate(POSTGRES.insertSyncOn, 64)(r) },
  { name: 'db/write @64 ÷ PostgreSQL insert @64, synchronous_commit off (rate)', target: '(reported)', of: (r) => rate(OURS.insert, 64)(r) / rate(POSTGRES.insertSyncOff, 64)(r) },
  { name: 'db/read point @1 p50 ÷ bare RPC echo @1 p50', target: '≤ 2×', of: (r) => p50(OURS.point, 1)(r) / p50(ECHO, 1)(r) },
  { name: 'db/read point @1 p50 ÷ PostgreSQL point read @1 p50', target: '≤ 3×', of: (r) => p50(OURS.point, 1)(r) / p50(POSTGRES.point, 1)(r) },
  { name: 'db/read route search @1 p50 ÷ bare RPC echo @1 p50', target: '', of: (r) => p50(OURS.route, 1)(r) / p50(ECHO, 1)(r) },
  { name: 'db/read route search @1 p50 ÷ PostgreSQL route search @1 p50', target: '', of: (r) => p50(OURS.route, 1)(r) / p50(POSTGRES.route, 1)(r) },
];

function ratiosTable(rounds: RoundResult[][], withPostgres: boolean): string {
  const ratios = withPostgres ? RATIOS : RATIOS.filter((ratio) => !ratio.name.includes('PostgreSQL'));
  const rows = ratios.map((ratio) => {
    const values = rounds.map((round) => ratio.of(round));
    const unit = ratio.name.includes('not a ratio') ? '' : '×';
    return [ratio.name, ...values.map((value) => `${fixed(value, 2)}${unit}`), `**${fixed(median(values), 2)}${unit}**`, ratio.target];
  });
  return table(['ratio', ...rounds.map((_, i) => `round ${i + 1}`), 'median', 'target'], rows);
}

/** CPU ms per request by process group, each cell the median over the rounds. */
function cpuTable(rounds: RoundResult[][], labels: string[], groups: string[]): string {
  const columns = [...groups, BENCH_PROCESS];
  const rows: string[][] = [];
  for (const concurrency of [1, 64]) {
    for (const label of labels) {
      const same = rounds.map((round) => find(round, label, concurrency)).filter((result): result is RoundResult => result !== undefined);
      if (same.length === 0) continue;
      const cell = (column: string) => median(same.map((result) => result.cpuMsPerRequest[column] ?? Number.NaN));
      const values = columns.map(cell);
      rows.push([
        label,
        String(concurrency),
        ...values.map((value) => fixed(value, 3)),
        fixed(
          values.reduce((a, b) => a + b, 0),
          3,
        ),
        fixed(cell(REST_OF_MACHINE), 3),
      ]);
    }
  }
  return table(['CPU ms per request', 'in flight', ...columns, 'sum', REST_OF_MACHINE], rows);
}

export function anchorSection(rounds: RoundResult[][], context: AnchorContext): string {
  const { postgres, requests, broker } = context;
  const title = `## PostgreSQL anchor (${new Date().toISOString()}; ${rounds.length} rounds; ${requests} requests per row at 64 in flight, ${Math.min(requests, 3000)} at 1)`;
  const ourLabels = Object.values(OURS);
  if ('skipped' in postgres) {
    return [title, '', postgres.skipped, '', ratiosTable(rounds, false)].join('\n');
  }
  const server = postgres.server;
  const visible = postgres.serverProcessesVisible;
  return [
    title,
    '',
    `${server.version} at ${printableUrl(postgres.url)}; server: synchronous_commit ${server.synchronousCommit}, fsync ${server.fsync}, wal_sync_method ${server.walSyncMethod}, autovacuum ${server.autovacuum}.`,
    `node-postgres, a pool of ${POOL_SIZE} per synchronous_commit setting, named prepared statements; schema ${postgres.schema} (dropped at the end) with the tables and indexes of src/dbaas/protocol/tables.ts`,
    `and the same rows as ours: user '${BENCH_USER.username}', ${benchRides().length} rides on the searched routes, plus what each round inserts. In each round ours and PostgreSQL's run back to back, ours first in odd rounds, PostgreSQL first in even ones.`,
    '',
    'Every round, rate/s · p50 ms · p99 ms:',
    '',
    roundsTable(rounds),
    '',
    ratiosTable(rounds, true),
    '',
    'CPU ms per request by process, median of the rounds (/proc/<pid>/stat utime + stime):',
    '',
    cpuTable(rounds, ourLabels, ['orchestrator', 'master', 'slaves', 'rabbitmq']),
    '',
    visible
      ? cpuTable(rounds, Object.values(POSTGRES), ['postgres backends', 'postgres background'])
      : "(PostgreSQL's processes are not on this machine: only the bench process is measured for its rows.)",
    '',
    `${broker.description}. postgres backends: the ${POOL_SIZE} server processes of the pool used (pg_backend_pid()); postgres background: the postmaster, WAL writer, checkpointer and the other non-client processes of the server.`,
  ].join('\n');
}

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

/** The anchor on its own: a bench system, the same rounds as `npm run bench`'s database section, this section. */
async function main(): Promise<void> {
  const requests = option('requests', 20_000);
  const roundCount = option('rounds', 3);
  const postgres = await openPostgresAnchor();
  if ('skipped' in postgres) process.stdout.write(`${postgres.skipped}\n`);
  const anchor = 'skipped' in postgres ? undefined : postgres;
  let stopping: Promise<void> | undefined;
  let system: Awaited<ReturnType<typeof startBenchSystem>> | undefined;
  const stop = () => (stopping ??= Promise.all([anchor?.close(), system?.stop()]).then(() => undefined));
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  try {
    system = await startBenchSystem({ withServices: false });
    await seedBenchData(system);
    await anchor?.seed(BENCH_USER, benchRides());
    const broker = findBroker(system.amqpUrl);
    const rounds: RoundResult[][] = [];
    for (let round = 0; round < roundCount; round += 1) {
      rounds.push(await measureDatabaseRound(system, { requests, round, broker, postgres: anchor }));
      process.stderr.write(`round ${round + 1} of ${roundCount} done\n`);
    }
    process.stdout.write(`\n${anchorSection(rounds, { requests, broker, postgres })}\n`);
  } finally {
    await stop();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`postgres anchor failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
