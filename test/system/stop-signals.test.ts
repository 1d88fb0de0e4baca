/**
 * `npm start` stops everything it started, however the stop is asked for: Ctrl-C in a terminal
 * (SIGINT to the whole foreground process group), a signal to npm, or one to main.ts itself;
 * once, or twice in quick succession (the echo of one request, not a second one). Each case runs
 * the real system and then scans /proc for anything that still names its DATA_DIR or cluster.
 * Every case has a system of its own (its own DATA_DIR, cluster and ports); a few run at once,
 * since most of a case is waiting for its system to start.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, it } from 'vitest';
import { fewAtATime } from '../../harness/few-at-a-time.ts';
import { portAccepts } from '../../src/shared/processes.ts';
import { startSystem, type Launcher, type RunningSystem, type StartOptions } from '../../harness/system/npm-start.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

type Target = 'group' | 'launcher' | 'main';

interface StopCase {
  via: Launcher;
  target: Target;
  signal: NodeJS.Signals;
  times: 1 | 2;
}

/** What a terminal, an operator or a process manager would do. */
function deliver(system: RunningSystem, target: Target, signal: NodeJS.Signals): void {
  if (target === 'group') process.kill(-system.pid, signal);
  else if (target === 'launcher') process.kill(system.pid, signal);
  else process.kill(system.mainProcess().pid, signal);
}

const targets: Array<Omit<StopCase, 'times'>> = [
  { via: 'npm', target: 'group', signal: 'SIGINT' },
  { via: 'npm', target: 'launcher', signal: 'SIGINT' },
  { via: 'npm', target: 'launcher', signal: 'SIGTERM' },
  { via: 'npm', target: 'main', signal: 'SIGINT' },
  { via: 'npm', target: 'main', signal: 'SIGTERM' },
  { via: 'node', target: 'group', signal: 'SIGINT' },
  { via: 'node', target: 'main', signal: 'SIGINT' },
  { via: 'node', target: 'main', signal: 'SIGTERM' },
];
/**
 * Twice in quick succession where it happens: Ctrl-C pressed twice (the group) and a process
 * manager's repeated SIGTERM (npm). To main.ts the repeat is handled by the same code, so those
 * targets get the single signal only: each case is a whole system's start, 15-30 s of the suite.
 */
const repeated = (target: Omit<StopCase, 'times'>) => target.target === 'group' || (target.target === 'launcher' && target.signal === 'SIGTERM');
const cases: StopCase[] = targets.flatMap((target) => (repeated(target) ? [1, 2] : [1]).map((times) => ({ ...target, times: times as 1 | 2 })));
function describeCase({ via, target, signal, times }: StopCase): string {
  const launched = via === 'npm' ? 'npm start' : 'node src/main.ts';
  const to = target === 'group' ? 'the process group' : target === 'launcher' ? 'npm' : 'main.ts';
  return `${launched}, ${signal} to ${to}${times === 2 ? ' twice in quick succession' : ''}`;
}

/** A graceful stop of the whole system takes about a second; this leaves room for a loaded machine. */
const GONE_WITHIN_MS = 20_000;

/** Systems running at once: two cores, and each system is seven processes or more. */
const inTurn = fewAtATime(3);

/** A case's own system, started when its turn comes; whatever is left of it is gone before the next takes the turn. */
function withSystem(options: StartOptions, body: (system: RunningSystem) => Promise<void>): Promise<void> {
  return inTurn(async () => {
    const system = await startSystem(options);
    try {
      await body(system);
    } finally {
      await system.cleanUp();
    }
  });
}

/** A case waits for its turn within its own time: the cases ahead of it each take a start, a stop and a clean-up. */
const CASE_TIMEOUT_MS = 300_000;

// `npm start` builds dist/ first when a source is newer: built once here, so cases starting at once never build together.
beforeAll(() => {
  const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`the build failed:\n${built.stderr}`);
});

describe.concurrent('npm start stops everything it started', () => {
  for (const { via, target, signal, times, title } of cases.map((c) => ({ ...c, title: describeCase(c) }))) {
    it(`${title}: nothing is left`, { timeout: CASE_TIMEOUT_MS }, ({ expect }) =>
      withSystem({ via }, async (system) => {
        expect(system.processRunning('src/dbaas/worker/main.ts')).toBeDefined();
        deliver(system, target, signal);
        if (times === 2) {
          await new Promise((resolve) => setTimeout(resolve, 30));
          deliver(system, target, signal);
        }
        await system.waitUntilGone(GONE_WITHIN_MS);
        await system.exited;
        const output = system.output();
        // The repeat was the same request: a graceful stop, not a forced one.
        expect(output).toContain('"msg":"stopped"');
        expect(output).not.toContain('stopping now');
      }),
    );
  }
});

describe.concurrent('npm start when a stop does not go to plan', () => {
  /** A frozen orchestrator ignores SIGTERM: the graceful stop would wait for its whole grace. */
  function freezeOrchestrator(running: RunningSystem): number {
    const orchestrator = running.processRunning('src/dbaas/orchestrator/main.ts');
    if (!orchestrator) throw new Error('no orchestrator');
    process.kill(orchestrator.pid, 'SIGSTOP');
    return orchestrator.pid;
  }

  it(
    'a second Ctrl-C after the repeat window kills everything at once, workers included',
    ({ expect }) =>
      withSystem({ via: 'npm' }, async (system) => {
        freezeOrchestrator(system);
        process.kill(-system.pid, 'SIGINT');
        await new Promise((resolve) => setTimeout(resolve, 1500));
        expect(system.processRunning('src/dbaas/worker/main.ts')).toBeDefined();
        process.kill(-system.pid, 'SIGINT');
        await system.waitUntilGone(10_000);
        expect(system.output()).toContain('stop requested again; stopping now');
      }),
    CASE_TIMEOUT_MS,
  );

  it(
    'an orchestrator still running after its grace is killed, and then the workers it left',
    ({ expect }) =>
      withSystem({ via: 'node', env: { ORCHESTRATOR_STOP_GRACE_MS: '1500' } }, async (system) => {
        const workers = system.processes().filter((proc) => proc.args.some((arg) => arg.startsWith('--rideshare-worker=')));
        expect(workers).toHaveLength(2);
        freezeOrchestrator(system);
        process.kill(system.pid, 'SIGTERM');
        await system.waitUntilGone(15_000);
        const output = system.output();
        expect(output).toContain('stopped workers the orchestrator left running');
        expect(output).not.toContain('stopping now');
      }),
    CASE_TIMEOUT_MS,
  );

  it(
    'a private ZooKeeper it started is stopped with the rest',
    async ({ expect, skip }) => {
      if (await portAccepts(2181)) skip(); // npm start would use that one
      await withSystem({ via: 'npm', env: { ZK_CONNECT: undefined } }, async (system) => {
        expect(system.processes().some((proc) => proc.args.some((arg) => arg.includes('zookeeper')))).toBe(true);
        process.kill(-system.pid, 'SIGINT');
        await system.waitUntilGone(GONE_WITHIN_MS);
        expect(system.output()).toContain('stopped the private server');
      });
    },
    CASE_TIMEOUT_MS,
  );
});
