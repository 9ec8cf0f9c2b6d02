import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Relative URLs so the built app works from any static host and sub-path.
  base: './',
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  // keepNames: error classes set `name` from their class name (errors.ts), and errors cross
  // the worker boundary by that name; minified class names would break it.
  worker: { format: 'es', rolldownOptions: { output: { keepNames: true } } },
  // onnxruntime-web finds its wasm relative to its own module: keep it out of the
  // dev server's dependency pre-bundling.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: { target: 'es2022', rolldownOptions: { output: { keepNames: true } } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // The numerics tests are CPU-bound; two cores on CI.
    maxWorkers: 2,
  },
});
