/**
 * The CI shape of the fault-injection suite: one test file per group of fault kinds, one
 * environment per file (its own RabbitMQ, ZooKeeper and orchestrators), one test per kind, each
 * a bounded round with its own ledger and checker verdict, and the figures table at the end.
 *
 * FAULTS_SEED replays a run; FAULTS_DURATION_MS is how long faults keep coming per kind (at
 * least one is injected); FAULTS_HEAL_TIMEOUT_MS bounds each heal; FAULTS_KINDS=a,b runs only
 * those kinds; FAULTS_SLOW=1 adds the kinds too slow for CI's few minutes (bench/soak.ts always
 * runs them); FAULTS_KEEP=1 keeps the data directory even when everything passed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/shared/processes.ts';
import { Random } from '../chaos/prng.ts';
import { FaultEnvironment, type EnvironmentOptions } from './environment.ts';
import { Figures } from './figures.ts';
import { DESCRIPTIONS, type FaultName } from './kinds.ts';
import { clusterProcesses, isAlive } from './proc.ts';
import { runRound } from './round.ts';

export const FAULTS_SEED = Number(process.env.FAULTS_SEED ?? 42);
const durationMs = Number(process.env.FAULTS_DURATION_MS ?? 3000);
const healTimeoutMs = Number(process.env.FAULTS_HEAL_TIMEOUT_MS ?? 30_000);
const only = process.env.FAULTS_KINDS?.split(',').map((kind) => kind.trim());

/** Each kind's round has a seed of its own, so running one kind alone replays its choices. */
export function roundSeed(seed: number, kind: FaultName): number {
  return new Random(seed).fork(kind).int(1, 2 ** 31 - 1);
}

export type SuiteSetup = Pick<EnvironmentOptions, 'label' | 'orchestrators' | 'brokerProxy' | 'zkProxy' | 'workersDiskBytes'>;

export function faultSuite(title: string, setup: SuiteSetup, kinds: readonly FaultName[], options: { slow?: readonly FaultName[] } = {}): void {
  const slowToo = process.env.FAULTS_SLOW === '1';
  const selected = kinds.filter((kind) => (only ? only.includes(kind) : slowToo || !options.slow?.includes(kind)));
  describe(`${title} (FAULTS_SEED=${FAULTS_SEED})`, () => {
    let env: FaultEnvironment | undefined;
    const figures = new Figures();
    let failed = false;

    beforeAll(async () => {
      if (selected.length === 0) return;
      env = await FaultEnvironment.start({ ...setup, slaves: 2, sessionTimeoutMs: 1000, rpcTimeoutMs: 2500, log: (line) => console.log(line) });
    }, 300_000);

    const stop = async () => {
      const stopping = env;
      env = undefined;
      if (!stopping) return undefined;
      const keep = failed || process.env.FAULTS_KEEP === '1';
      await stopping.stop({ keep });
      if (keep) console.log(`fault data kept in ${stopping.root}`);
      return stopping;
    };

    afterAll(async () => {
      if (selected.length > 0) console.log(figures.table(`${title}, seed ${FAULTS_SEED}`));
      await stop();
    }, 120_000);

    for (const kind of kinds) {
      it.skipIf(!selected.includes(kind))(
        `${kind} (${DESCRIPTIONS[kind]}): heals by itself, no acknowledged write lost or doubled, history kept`,
        async () => {
          if (!env) throw new Error('the environment did not start');
          const seed = roundSeed(FAULTS_SEED, kind);
          // No warm-up beyond the quiet time before the fault (300-800 ms of writes): the soak keeps its 500 ms.
          const result = await runRound({ env, kinds: [kind], seed, label: `${kind}-${seed}`, durationMs, healTimeoutMs, warmUpMs: 0, log: (line) => console.log(line) });
          figures.add(result);
          console.log(result.text);
          if (result.failures.length > 0) failed = true;
          expect(result.faults.length, 'faults injected').toBeGreaterThan(0);
          expect(result.failures, result.text).toEqual([]);
        },
        durationMs + 4 * healTimeoutMs + 180_000,
      );
    }

    it.skipIf(selected.length === 0)(
      'stops every process it started: orchestrators, workers of every cluster, servers',
      async () => {
        const stopped = await stop();
        if (!stopped) throw new Error('the environment did not start');
        // A SIGKILLed process takes a moment to die; anything still there after 5 s survived.
        const survivors = () => stopped.clusters.flatMap((cluster) => clusterProcesses(cluster));
        await waitFor(() => survivors().length === 0, 5000, 100);
        expect(survivors()).toEqual([]);
        const servers = [stopped.rabbit, stopped.zk].filter((server) => server.running || (server.pid !== undefined && isAlive(server.pid)));
        expect(servers.map((server) => server.name)).toEqual([]);
      },
      120_000,
    );
  });
}
