/**
 * `npx tsx bench/soak.ts --minutes 30 --seed 7`: the fault-injection suite for as long as asked.
 * One environment that every fault kind can run in (private RabbitMQ behind the link-fault
 * proxy, private ZooKeeper behind one too, the workers' folder on a small tmpfs, two orchestrator
 * processes under a process manager); then rounds,
 * one fault kind each in a seeded shuffled order, each round injecting its kind repeatedly for
 * `--round-seconds` while clients write and read, then checking the history. Prints every
 * round's verdict as it ends, the full report of each failed round, and at the end the figures:
 * faults injected by kind with heal times (median, worst), writes acknowledged, lost,
 * duplicated, applied after a 503 without a retry. Exits 1 when any round failed.
 *
 * Options: --minutes N (default 10), --seed N (default 1), --kinds a,b (default all),
 * --round-seconds N (default 20), --heal-timeout-seconds N (default 45), --keep (keep the data
 * even when every round passed). Ctrl-C ends the run after the current round.
 *
 * `--hosts [--minutes N] [--seed S] [--placement seed|ha] [--kinds a,b]`: the same on a test bed of
 * three hosts running the deployment of docs/hosts.md (harness/hosts/bed-faults/bed-soak.ts).
 */
import { runBedSoak } from '../harness/hosts/bed-faults/bed-soak.ts';
import { Random } from '../harness/chaos/prng.ts';
import { FaultEnvironment } from '../harness/faults/environment.ts';
import { Figures } from '../harness/faults/figures.ts';
import { FAULT_KINDS, type FaultName } from '../harness/faults/kinds.ts';
import { runRound } from '../harness/faults/round.ts';
import { shuffled } from '../harness/faults/shuffle.ts';
import { WORKERS_DISK_BYTES } from '../harness/faults/small-disk.ts';

/**
 * The replicas grow with the soak (about 2.5 MiB a minute at the soak's write rate, and a new
 * slave copies the master's file beside them): a disk the suite's size fills by itself within
 * a quarter of an hour, and then no slave can be replaced. 16 MiB a minute, 256 MiB at least.
 */
function soakDiskBytes(minutes: number): number {
  return Math.max(WORKERS_DISK_BYTES * 4, Math.ceil(minutes) * 16 * 1024 * 1024);
}

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

function kindsOption(): FaultName[] {
  const index = process.argv.indexOf('--kinds');
  if (index < 0) return [...FAULT_KINDS];
  const asked = (process.argv[index + 1] ?? '').split(',').map((kind) => kind.trim());
  const unknown = asked.filter((kind) => !(FAULT_KINDS as readonly string[]).includes(kind));
  if (unknown.length > 0) throw new Error(`unknown fault kinds: ${unknown.join(', ')} (known: ${FAULT_KINDS.join(', ')})`);
  return asked as FaultName[];
}

// `--hosts`: the fault suite on a test bed of three hosts running the deployment (harness/hosts/bed-faults).
if (process.argv.includes('--hosts')) process.exit(await runBedSoak(process.argv));

const minutes = option('minutes', 10);
const seed = option('seed', 1);
const roundMs = option('round-seconds', 20) * 1000;
const healTimeoutMs = option('heal-timeout-seconds', 45) * 1000;
const kinds = kindsOption();
const keep = process.argv.includes('--keep');
const log = (line: string) => process.stdout.write(`${line}\n`);

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log('interrupted: finishing the current round (Ctrl-C again to exit at once)');
});

log(`soak: ${minutes} min, seed ${seed}, rounds of ${roundMs / 1000} s, kinds: ${kinds.join(', ')}`);
const env = await FaultEnvironment.start({
  label: `soak-${seed}`,
  orchestrators: 2,
  brokerProxy: true,
  zkProxy: true,
  workersDiskBytes: soakDiskBytes(minutes),
  slaves: 2,
  sessionTimeoutMs: 1000,
  rpcTimeoutMs: 2500,
  log,
});
const figures = new Figures();
const random = new Random(seed);
const endAt = Date.now() + minutes * 60_000;
let bag: FaultName[] = [];
try {
  for (let round = 1; Date.now() < endAt && !interrupted; round += 1) {
    if (bag.length === 0) bag = shuffled(kinds, random.fork(`bag-${round}`));
    const kind = bag.pop() as FaultName;
    const roundSeed = random.fork(`round-${round}`).int(1, 2 ** 31 - 1);
    const result = await runRound({ env, kinds: [kind], seed: roundSeed, label: `soak${seed}-r${round}-${kind}`, durationMs: roundMs, healTimeoutMs, log });
    figures.add(result);
    const heals = result.faults.map((fault) => (fault.healMs !== undefined ? `${(fault.healMs / 1000).toFixed(1)}s` : 'NOT healed')).join(' ');
    const left = Math.max(0, Math.round((endAt - Date.now()) / 1000));
    log(
      `round ${round} ${kind} (seed ${roundSeed}): ${result.failures.length === 0 ? 'PASS' : 'FAIL'}; ${result.faults.length} faults, heals ${heals || '-'}; ${result.report.figures.acked} writes acknowledged; ${left} s left`,
    );
    if (result.failures.length > 0) log(result.text);
  }
} finally {
  log('');
  log(figures.table(`soak, seed ${seed}, ${minutes} min`));
  const keepData = keep || figures.failedRounds > 0;
  await env.stop({ keep: keepData });
  if (keepData) log(`data kept in ${env.root}`);
}
process.exit(figures.failedRounds > 0 ? 1 : 0);
