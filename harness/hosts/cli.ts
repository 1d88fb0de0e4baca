/**
 * `npm run hosts -- up|down|status [--bed NAME] [--hosts users,rides,db] [--subnet 10.77.0.0/24]`
 *
 *   up      makes the bed and leaves it up (its state file says no process owns it)
 *   down    removes it, from its state file or by its namespaces' prefix; `--all` removes every bed
 *   status  each host, its address, its processes and their memory
 *
 * Exit 0 when done, 1 when it failed, 2 on bad usage.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { RideShareError } from '../../src/shared/errors.ts';
import { DEFAULT_STATE_DIR, planBed, stateFileOf } from './bed-plan.ts';
import { readState, statedBeds } from './bed-state.ts';
import { bedStatus, formatStatus } from './status.ts';
import { bedsOnMachine, tearDown, type TeardownReport } from './teardown.ts';
import { TestBed } from './TestBed.ts';

const USAGE = 'usage: npm run hosts -- up|down|status [--bed NAME] [--hosts users,rides,db] [--subnet 10.77.0.0/24] [--all]';

const ARGUMENTS = {
  allowPositionals: true,
  options: { bed: { type: 'string' }, hosts: { type: 'string' }, subnet: { type: 'string' }, all: { type: 'boolean' }, help: { type: 'boolean' } },
} as const satisfies ParseArgsConfig;

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<typeof ARGUMENTS>>;
  try {
    parsed = parseArgs(ARGUMENTS);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (rest.length > 0 || !['up', 'down', 'status'].includes(command ?? '')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const bed = values.bed ?? 'bed';
  if (command === 'down') return down(values.all ? [...new Set([...statedBeds(DEFAULT_STATE_DIR), ...bedsOnMachine()])] : [bed]);
  if (command === 'status') return status(bed);
  const testBed = new TestBed({ name: bed, keep: true, ...(values.hosts ? { hosts: values.hosts.split(',') } : {}), ...(values.subnet ? { subnet: values.subnet } : {}) });
  const ms = await testBed.up();
  process.stdout.write(`bed ${bed} up in ${ms.toFixed(0)} ms\n${formatStatus(testBed.plan, testBed.status())}\n`);
  return 0;
}

function down(beds: string[]): number {
  for (const bed of beds) {
    const report: TeardownReport = tearDown(bed);
    process.stdout.write(`bed ${bed}: removed ${report.namespaces.length} namespaces, ${report.etcFolders.length} /etc/netns folders, killed ${report.killed.length} processes\n`);
    if (report.left.length > 0) {
      process.stderr.write(`bed ${bed}: still there: ${report.left.join(', ')}\n`);
      return 1;
    }
  }
  return 0;
}

function status(bed: string): number {
  const state = readState(stateFileOf(bed));
  // Without a state file the plan is rebuilt from the defaults: the names, not the settings, are what count.
  const plan = state?.plan ?? planBed({ name: bed });
  if (!state) process.stdout.write(`bed ${bed}: no state file (${stateFileOf(bed)}); showing the default plan\n`);
  process.stdout.write(`${formatStatus(plan, bedStatus(plan))}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof RideShareError ? `${error.code}: ` : ''}${(error as Error).message}\n`);
    process.exit(error instanceof RideShareError && error.status < 500 ? 2 : 1);
  },
);
