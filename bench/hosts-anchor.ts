/**
 * Across hosts, side by side in one run on one test bed: RideShare's three-host deployment (the
 * ha placement: workers on db) and PostgreSQL with a synchronous standby under Debian's Patroni
 * (etcd on users, the two nodes on rides and db; harness/hosts/patroni-anchor.ts), the anchor for
 * "survives a host loss".
 *
 *   npm run bench:hosts -- [--rounds 3] [--requests 2000] [--failovers 2] [--delay-ms N] [--log-dir DIR]
 *   npm run bench:hosts -- --rounds 0 --failovers 5     # the failovers only
 *
 * The client stands in the users host for both (one bed bridge there): on neither Patroni node,
 * and on the host whose orchestrator it calls. Each round measures single-row inserts at 1 and at
 * 64 in flight on both sides, back to back, ours first in odd rounds and Patroni's first in even
 * ones, and prints the round at once with the ratio ours ÷ Patroni's within it (the machine is
 * shared and noisy: only ratios within a round mean much); each round also measures db/read point
 * reads through the same orchestrator against the bare broker round trip between the same two
 * RabbitMQ nodes (bench/lib/bed-echo.ts); then the medians. Then failovers,
 * alternating: SIGKILL of RideShare's master worker, SIGKILL of the Patroni leader's PostgreSQL,
 * each timed until a write is acknowledged again, acknowledged writes lost counted on both.
 *
 * `--delay-ms N` holds every frame between any two hosts N ms each way for the whole measurement
 * (the seeding, the rounds and the failovers; not the start): the delay switch in the bed's
 * bridge namespace (harness/hosts/delay-switch.ts), since this kernel has no netem. Both sides
 * live in the same hosts, so both get the same delay on every link: RideShare's Erlang
 * distribution, ZooKeeper's quorum and the streams, Patroni's replication and its etcd, and the
 * client's own requests.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { BedFaultEnvironment } from '../harness/hosts/bed-faults/bed-fault-environment.ts';
import { MAX_DELAY_MS, type BedDelay } from '../harness/hosts/delay-switch.ts';
import { PatroniAnchor } from '../harness/hosts/patroni-anchor.ts';
import { BENCH_USER, rideMaker } from './database.ts';
import { BedEcho } from './lib/bed-echo.ts';
import { measureFailover, type FailoverFigure } from './lib/failover-writes.ts';
import { median, type LoadResult } from './lib/load.ts';
import { PatroniSide } from './lib/patroni-side.ts';
import { RideShareSide } from './lib/rideshare-side.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, requests: { type: 'string' }, failovers: { type: 'string' }, 'delay-ms': { type: 'string' }, 'log-dir': { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 3);
const REQUESTS = Number(values.requests ?? 2000);
const FAILOVERS = Number(values.failovers ?? 2);
/** Each way between any two hosts; 0: none (the bed's bridge as it is). */
const DELAY_MS = Number(values['delay-ms'] ?? 0);
/** Where each host's output and its workers' logs are kept after the run (none by default). */
const LOG_DIR = values['log-dir'];
const CLIENT_HOST = 'users';
const ORCHESTRATOR_PORT = 8000;
const CONCURRENCIES = [1, 64] as const;

interface Side {
  insertLoad(label: string, concurrency: number, requests: number, next: ReturnType<typeof rideMaker>): Promise<LoadResult>;
}

interface RoundFigures {
  ours: Map<number, LoadResult>;
  patroni: Map<number, LoadResult>;
  /** db/read point reads, and the bare broker echo between the same two RabbitMQ nodes. */
  reads: Map<number, LoadResult>;
  echo: Map<number, LoadResult>;
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const load = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(1))
    .join(' ');
const cell = (result: LoadResult) => `${result.rate.toFixed(0)}/s p50 ${result.p50Ms.toFixed(1)} ms p99 ${result.p99Ms.toFixed(1)} ms${result.errors ? ` (${result.errors} errors)` : ''}`;

async function measureRound(round: number, ours: RideShareSide, patroni: Side, echo: BedEcho, nextRide: ReturnType<typeof rideMaker>): Promise<RoundFigures> {
  const figures: RoundFigures = { ours: new Map(), patroni: new Map(), reads: new Map(), echo: new Map() };
  for (const concurrency of CONCURRENCIES) {
    // Fewer requests at 1 in flight, where each waits for the one before.
    const requests = concurrency === 1 ? Math.max(100, Math.floor(REQUESTS / 4)) : REQUESTS;
    const order = round % 2 === 1 ? (['ours', 'patroni'] as const) : (['patroni', 'ours'] as const);
    for (const side of order) {
      const result = await (side === 'ours' ? ours : patroni).insertLoad(side, concurrency, requests, nextRide);
      figures[side].set(concurrency, result);
    }
    const a = figures.ours.get(concurrency) as LoadResult;
    const b = figures.patroni.get(concurrency) as LoadResult;
    say(`round ${round} @${concurrency}: ours ${cell(a)} | Patroni ${cell(b)} | ours ÷ Patroni ${(a.rate / b.rate).toFixed(2)}× (load ${load()})`);
    for (const side of round % 2 === 1 ? (['reads', 'echo'] as const) : (['echo', 'reads'] as const)) {
      figures[side].set(concurrency, await (side === 'reads' ? ours.readLoad(concurrency, requests) : echo.measure(concurrency, requests)));
    }
    const reads = figures.reads.get(concurrency) as LoadResult;
    const bare = figures.echo.get(concurrency) as LoadResult;
    say(`round ${round} @${concurrency} reads: ours db/read point ${cell(reads)} | bare broker echo ${cell(bare)} | ours ÷ echo ${(reads.rate / bare.rate).toFixed(2)}×`);
  }
  return figures;
}

function summary(rounds: RoundFigures[], failovers: { side: string; figure: FailoverFigure }[]): string {
  const lines = [''];
  if (rounds.length > 0) lines.push(`single-row inserts, ${rounds.length} rounds (rate ours ÷ Patroni within each round):`);
  for (const concurrency of rounds.length > 0 ? CONCURRENCIES : []) {
    const ratios = rounds.map((round) => (round.ours.get(concurrency) as LoadResult).rate / (round.patroni.get(concurrency) as LoadResult).rate);
    const rate = (side: 'ours' | 'patroni') => median(rounds.map((round) => (round[side].get(concurrency) as LoadResult).rate)).toFixed(0);
    const p50 = (side: 'ours' | 'patroni') => median(rounds.map((round) => (round[side].get(concurrency) as LoadResult).p50Ms)).toFixed(1);
    lines.push(
      `  @${concurrency}: ratios ${ratios.map((ratio) => `${ratio.toFixed(2)}×`).join(' | ')}, median ${median(ratios).toFixed(2)}×; median rates ours ${rate('ours')}/s, Patroni ${rate('patroni')}/s; median p50 ours ${p50('ours')} ms, Patroni ${p50('patroni')} ms`,
    );
  }
  for (const concurrency of rounds.length > 0 ? CONCURRENCIES : []) {
    const ratios = rounds.map((round) => (round.reads.get(concurrency) as LoadResult).rate / (round.echo.get(concurrency) as LoadResult).rate);
    lines.push(
      `  reads @${concurrency}, db/read point ÷ bare broker echo: ${ratios.map((ratio) => `${ratio.toFixed(2)}×`).join(' | ')}, median ${median(ratios).toFixed(2)}×${concurrency === 64 ? ' (target ≥ 0.5×)' : ''}`,
    );
  }
  lines.push('failover (SIGKILL → first write acknowledged after it; acknowledged writes lost):');
  for (const side of ['RideShare', 'Patroni']) {
    const mine = failovers.filter((entry) => entry.side === side).map((entry) => entry.figure);
    const times = mine.map((figure) => `${(figure.recoveryMs / 1000).toFixed(2)} s`).join(' | ');
    lines.push(`  ${side}: ${times || 'none'}; lost ${mine.map((figure) => `${figure.lost} of ${figure.acknowledged}`).join(' | ')}`);
  }
  const ours = failovers.filter((entry) => entry.side === 'RideShare').map((entry) => entry.figure.recoveryMs);
  const theirs = failovers.filter((entry) => entry.side === 'Patroni').map((entry) => entry.figure.recoveryMs);
  const ratios = ours.map((mine, index) => (theirs[index] ?? Number.NaN) / mine);
  lines.push(`  Patroni ÷ RideShare, failover by failover: ${ratios.map((ratio) => `${ratio.toFixed(1)}×`).join(' | ')} (target ≥ 20×)`);
  lines.push(`  medians: RideShare ${(median(ours) / 1000).toFixed(2)} s, Patroni ${(median(theirs) / 1000).toFixed(2)} s, Patroni ÷ RideShare ${(median(theirs) / median(ours)).toFixed(1)}×`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (!Number.isFinite(DELAY_MS) || DELAY_MS < 0 || DELAY_MS > MAX_DELAY_MS) throw new Error(`--delay-ms ${values['delay-ms']}: give 0 to ${MAX_DELAY_MS}`);
  say(
    `hosts anchor: ${ROUNDS} rounds, ${REQUESTS} inserts per side at 64 in flight, ${Math.max(100, Math.floor(REQUESTS / 4))} at 1; ${FAILOVERS} failovers per side; ` +
      `${DELAY_MS > 0 ? `delay between hosts ${DELAY_MS} ms each way` : 'no added delay between hosts'}; load ${load()}`,
  );
  const env = await BedFaultEnvironment.start({ placement: 'ha', name: `ha${process.pid}`, log: say, ...(LOG_DIR === undefined ? {} : { logDir: LOG_DIR }) });
  let anchor: PatroniAnchor | undefined;
  let patroniSide: PatroniSide | undefined;
  let oursSide: RideShareSide | undefined;
  let echo: BedEcho | undefined;
  let delay: BedDelay | undefined;
  const stop = async () => {
    await Promise.allSettled([patroniSide?.close(), oursSide?.close(), echo?.close()]);
    // The bridge as it was before the servers stop: their goodbyes are not held.
    await delay?.heal().catch((error: unknown) => say(`the delay's heal failed: ${error instanceof Error ? error.message : String(error)}`));
    // The anchor first: each RideShare host's stop waits until nothing runs in its namespace.
    await anchor?.stop();
    await env.stop();
  };
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  try {
    anchor = await PatroniAnchor.start(env.bed, { storeHost: CLIENT_HOST, nodeHosts: ['rides', 'db'] });
    say(
      `deployment up (hosts ${Object.entries(env.startFigures.hostUpMs)
        .map(([host, ms]) => `${host} ${(ms / 1000).toFixed(0)} s`)
        .join(', ')}); Patroni: ${(await anchor.members()).map((member) => `${member.host} ${member.role}`).join(', ')}`,
    );
    if (DELAY_MS > 0) {
      delay = await env.bed.delay(DELAY_MS);
      say(`delay switch on: ${DELAY_MS} ms each way between every two hosts (on in ${delay.injectMs.toFixed(0)} ms)`);
    }
    patroniSide = new PatroniSide(anchor);
    oursSide = new RideShareSide(env, await anchor.bridge.url(CLIENT_HOST, ORCHESTRATOR_PORT));
    await Promise.all([patroniSide.seed(BENCH_USER), oursSide.seed(BENCH_USER)]);
    echo = await BedEcho.open({ bed: env.bed, password: env.secret('rabbitmq.password'), replierHost: 'db', callerBridge: anchor.bridge, callerHost: CLIENT_HOST });
    const nextRide = rideMaker(1_900_000_000);
    const rounds: RoundFigures[] = [];
    for (let round = 1; round <= ROUNDS; round++) rounds.push(await measureRound(round, oursSide, patroniSide, echo, nextRide));
    const failovers: { side: string; figure: FailoverFigure }[] = [];
    for (let index = 1; index <= FAILOVERS; index++) {
      for (const [side, target] of [
        ['RideShare', oursSide.failoverTarget()],
        ['Patroni', patroniSide.failoverTarget()],
      ] as const) {
        const figure = await measureFailover(target, `fo${index}${side === 'RideShare' ? 'r' : 'p'}`);
        failovers.push({ side, figure });
        say(
          `failover ${index}, ${side}: killed ${figure.killed} at ${new Date(figure.killedAtEpochMs).toISOString()} (found in ${figure.lookupMs.toFixed(0)} ms); a write acknowledged again after ${(figure.recoveryMs / 1000).toFixed(2)} s; ${figure.acknowledged} acknowledged, ${figure.lost} lost, ${figure.failedAttempts} attempts failed (load ${load()})`,
        );
      }
    }
    say(summary(rounds, failovers));
  } finally {
    await stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`hosts anchor failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
