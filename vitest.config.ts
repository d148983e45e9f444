import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real etcd/nginx/haproxy processes; two cores, so keep parallelism modest.
    maxWorkers: 2,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
