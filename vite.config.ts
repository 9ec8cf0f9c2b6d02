import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Relative URLs so the built app works from any static host and sub-path.
  base: './',
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  worker: { format: 'es' },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // The numerics tests are CPU-bound; two cores on CI.
    maxWorkers: 2,
  },
});
