/**
 * `npm run soak -- --hosts [--minutes N] [--seed S] [--placement seed|ha] [--kinds a,b]`: the
 * bed's fault suite for as long as asked. One bed and one deployment (docs/hosts.md's command on
 * each of its three hosts), then rounds of one fault kind each, in a seeded shuffled order (every
 * kind once before any twice), each checked by the history checker. Prints how the deployment
 * started (bed, hosts up, memory per host), every round's verdict as it ends, the report of a
 * failed round, and at the end the figures by kind: injected, healed, heal median and worst,
 * acknowledged, lost, doubled. Everything is torn down however it ends: normally, on an error,
 * or on SIGINT/SIGTERM (the bed's owner kills every process in its namespaces and removes them
 * first; the figures so far are printed after). Exits 1 when a round failed.
 */
import { BadRequestError } from '../../../src/shared/errors.ts';
import { Random } from '../../chaos/prng.ts';
import { Figures } from '../../faults/figures.ts';
import { shuffled } from '../../faults/shuffle.ts';
import type { Placement } from '../host-deployment.ts';
import { BED_HOSTS, BedFaultEnvironment } from './bed-fault-environment.ts';
import { BED_FAULT_KINDS, type BedFaultName, CLOCK_KINDS } from './bed-kinds.ts';
import { runBedRound } from './bed-round.ts';

function optionValue(argv: readonly string[], name: string): string | undefined {
  const index = argv.indexOf(`--${name}`);
  return index >= 0 ? argv[index + 1] : undefined;
}

function numberOf(argv: readonly string[], name: string, fallback: number): number {
  const value = Number(optionValue(argv, name) ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new BadRequestError(`--${name} must be a positive number`);
  return value;
}

function kindsOf(argv: readonly string[]): BedFaultName[] {
  const asked = optionValue(argv, 'kinds');
  if (asked === undefined) return [...BED_FAULT_KINDS];
  const kinds = asked.split(',').map((kind) => kind.trim());
  const unknown = kinds.filter((kind) => !(BED_FAULT_KINDS as readonly string[]).includes(kind));
  if (unknown.length > 0) throw new BadRequestError(`unknown bed fault kinds: ${unknown.join(', ')} (known: ${BED_FAULT_KINDS.join(', ')})`);
  return kinds as BedFaultName[];
}

function placementOf(argv: readonly string[]): Placement {
  const placement = optionValue(argv, 'placement') ?? 'ha';
  if (placement !== 'seed' && placement !== 'ha') throw new BadRequestError(`--placement is seed or ha, not '${placement}'`);
  return placement;
}

export async function runBedSoak(argv: readonly string[]): Promise<number> {
  const minutes = numberOf(argv, 'minutes', 10);
  const seed = numberOf(argv, 'seed', 1);
  const healTimeoutMs = numberOf(argv, 'heal-timeout-seconds', 180) * 1000;
  const placement = placementOf(argv);
  const kinds = kindsOf(argv);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const figures = new Figures();
  const title = `soak on the test bed, ${placement} placement, seed ${seed}, ${minutes} min`;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      // The bed's owner has already killed everything in it (its handler runs first); what is left is to say what was seen.
      log(`\n${signal}: the bed is torn down; figures so far:`);
      log(figures.table(title));
      process.exit(130);
    });
  }

  log(`soak --hosts: ${minutes} min, seed ${seed}, placement ${placement}, kinds: ${kinds.join(', ')}`);
  const started = Date.now();
  const env = await BedFaultEnvironment.start({
    placement,
    name: `soak${process.pid}`,
    subnet: '10.79.0.0/24',
    log,
    fakeClocks: kinds.some((kind) => CLOCK_KINDS.includes(kind)),
    ...(process.env.DEPLOYMENT_LOG_DIR ? { logDir: process.env.DEPLOYMENT_LOG_DIR } : {}),
  });
  const { bedUpMs, hostUpMs, memory } = env.startFigures;
  log(
    `bed up in ${bedUpMs.toFixed(0)} ms; deployment up in ${((Date.now() - started) / 1000).toFixed(1)} s (${BED_HOSTS.map((host) => `${host} ${((hostUpMs[host] ?? 0) / 1000).toFixed(1)} s`).join(', ')})`,
  );
  for (const host of memory) {
    const programs = Object.entries(host.byProgram)
      .sort(([, a], [, b]) => b - a)
      .map(([program, kib]) => `${program} ${(kib / 1024).toFixed(0)}`)
      .join(', ');
    log(`  ${host.host}: ${(host.totalKiB / 1024).toFixed(0)} MiB resident (${programs})`);
  }
  const random = new Random(seed);
  const endAt = Date.now() + minutes * 60_000;
  let bag: BedFaultName[] = [];
  try {
    for (let round = 1; Date.now() < endAt; round += 1) {
      if (bag.length === 0) bag = shuffled(kinds, random.fork(`bag-${round}`));
      const kind = bag.pop() as BedFaultName;
      const roundSeed = random.fork(`round-${round}`).int(1, 2 ** 31 - 1);
      const result = await runBedRound({ env, kind, seed: roundSeed, label: `s${seed}r${round}-${kind}`, healTimeoutMs, log });
      figures.add(result);
      const fault = result.faults[0];
      const heal = fault?.healMs !== undefined ? `healed in ${(fault.healMs / 1000).toFixed(1)} s` : 'NOT healed';
      log(
        `round ${round} ${kind} (seed ${roundSeed}): ${result.failures.length === 0 ? 'PASS' : 'FAIL'}; ${heal}; ${result.report.figures.acked} writes acknowledged, ${result.report.figures.lost} lost, ${result.report.figures.duplicated} doubled; ${Math.max(0, Math.round((endAt - Date.now()) / 1000))} s left`,
      );
      log(`  through the spared gateways while it held: ${result.routeSummary}`);
      if (result.failures.length > 0) log(result.text);
    }
  } finally {
    log('');
    log(figures.table(title));
    await env.stop();
  }
  return figures.failedRounds > 0 ? 1 : 0;
}
