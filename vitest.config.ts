import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Files that run one after another in one process instead of a process each: a file's process
 * start and the import and first compile of its modules (fastify, amqplib, zod, the services) cost
 * more than many of these files' own tests on two cores. Only files that leave nothing running
 * behind and mock nothing belong here: a module mocked, a timer or client left open, or the
 * environment changed would reach the files after it.
 */
const ONE_PROCESS = [
  'test/services/**/*.test.ts',
  'test/structure/**/*.test.ts',
  'test/chaos/checker.test.ts',
  'test/faults/history-checker.test.ts',
  'test/system/coded-errors.test.ts',
  'test/system/host-plan.test.ts',
  'test/system/settings-views.test.ts',
  'test/system/host-secrets.test.ts',
  'test/dbaas/reply-decoding.test.ts',
  'test/dbaas/result-decoding.test.ts',
  'test/dbaas/rpc-result-check.test.ts',
  'test/dbaas/worker-protocol.test.ts',
  'test/dbaas/query-plans.test.ts',
  'test/operate/access-log-buffer.test.ts',
];

/**
 * Files that spend their time waiting, on clients cut off by server timeouts, whole systems
 * started and stopped by signals, scaling windows, sessions and deadlines, and share nothing with
 * the others: `npm test` (scripts/test-lanes.mjs) runs them in a lane of their own, beside the
 * others. The two longest files of the test bed of hosts (a deployment on three hosts, faults
 * injected into it) run here too, so that both lanes take about as long: a bed's start takes
 * both cores for seconds, and the other lane bears it since a ZooKeeper read that loses its
 * connection then is asked again (src/dbaas/coordination/read-retry.ts; before that, one such
 * loss was seen in another file while a bed started).
 */
const APART = [
  'test/hosts/bed-faults.test.ts',
  'test/hosts/deployment.test.ts',
  'test/security/limits.test.ts',
  'test/system/stop-signals.test.ts',
  'test/operate/rolling-upgrade.test.ts',
  'test/operate/rolling-restart.test.ts',
  'test/dbaas/autoscaling.test.ts',
  'test/infra/zk-dead-link.test.ts',
  'test/dbaas/restart-behind-commit.test.ts',
  'test/dbaas/supervisor-session.test.ts',
  'test/dbaas/commit-fence.test.ts',
  'test/services/resilience.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['harness/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores, and many tests start servers and worker processes: one file at a time.
    fileParallelism: false,
    pool: 'forks',
    projects: [
      // groupOrder: in one `vitest run` the groups run one after the other, never at once.
      { extends: true, test: { name: 'one-process', include: ONE_PROCESS, isolate: false, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'own-process', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...ONE_PROCESS, ...APART], sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'apart', include: APART, sequence: { groupOrder: 2 } } },
    ],
  },
});
