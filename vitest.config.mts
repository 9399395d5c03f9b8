import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Native calls use both cores already; files run one at a time so they do not fight for them.
    fileParallelism: false,
  },
});
