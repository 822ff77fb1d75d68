import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

const shared = {
  testTimeout: 30_000,
  hookTimeout: 120_000,
  // Builds dist/ once per run, before any worker starts: parallel files never race writing it.
  globalSetup: ['test/support/global-build.ts'],
};

export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        // Pure logic and local processes only: every core. vitest's own default is one worker
        // fewer than the cores, which is a single worker on a 2-core machine.
        test: {
          ...shared,
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          maxWorkers: availableParallelism(),
          // A worker runs file after file in one module cache, not a fresh process each: that cost
          // a third of the suite's CPU. Safe while no unit file mocks modules (vi.mock) and each
          // restores what it changes (process.env); shuffled file orders pass.
          isolate: false,
        },
      },
      {
        // Network namespaces with fixed names and shared host resources: one file at a time, after
        // the unit files (vitest runs projects without file parallelism last, one file at a time).
        test: {
          ...shared,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          fileParallelism: false,
        },
      },
      {
        test: { ...shared, name: 'e2e', include: ['test/e2e/**/*.test.ts'], fileParallelism: false },
      },
    ],
  },
});
