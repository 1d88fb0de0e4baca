import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['harness/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores, and many tests start servers and worker processes: one file at a time.
    fileParallelism: false,
    pool: 'forks',
  },
});
