/**
 * The library build: `dist/lib/index.js` (ES module, `createGenerator` and the public
 * types' runtime parts) with its worker chunk and onnxruntime's wasm as plain files
 * beside it. Every internal URL is relative to the importing module
 * (`new URL(file, import.meta.url)`), so the folder can be copied to any static host or
 * sub-path and imported from any page there.
 *
 * Vite's `build.lib` mode is not used on purpose: it inlines every asset as base64
 * (the 27 MB wasm included). A plain build with a JS entry keeps them as files.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  publicDir: false,
  worker: {
    format: 'es',
    rolldownOptions: { output: { entryFileNames: '[name]-[hash].js', chunkFileNames: '[name]-[hash].js', assetFileNames: '[name]-[hash][extname]', keepNames: true } },
  },
  build: {
    outDir: 'dist/lib',
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: '',
    copyPublicDir: false,
    modulePreload: false,
    rolldownOptions: {
      input: { index: 'src/index.ts' },
      preserveEntrySignatures: 'strict',
      // keepNames: error classes set `name` from their class name, which crosses the worker boundary.
      output: { entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js', assetFileNames: '[name]-[hash][extname]', keepNames: true },
    },
  },
});
