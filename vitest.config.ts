import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Lab tests create network namespaces and share host resources: run files one at a time there.
    fileParallelism: false,
    reporters: ['default'],
  },
});
