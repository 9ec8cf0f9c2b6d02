/**
 * The Node CLI, precompiled for the package: `dist/cli/cli.js` (ES module, Node ≥ 20) with
 * every JS dependency bundled in, so `npx flux-webgpu …` needs neither tsx nor the
 * sources. onnxruntime-node stays outside (an optional peer dependency): only the chunk
 * that runs a package on this machine imports it, loaded on demand by
 * tools/load-node-runtime.ts. tools/flux-webgpu.mjs runs this file when the sources are
 * absent (an installed package) and the sources through tsx in this repository.
 */
import { defineConfig } from 'vite';
import { thirdPartyLicenses } from './tools/package/third-party-licenses.ts';

export default defineConfig({
  publicDir: false,
  plugins: [thirdPartyLicenses().write()],
  // No browser-only replacements: this is Node code.
  ssr: { noExternal: true, target: 'node' },
  build: {
    ssr: 'tools/cli.ts',
    outDir: 'dist/cli',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    reportCompressedSize: false,
    rolldownOptions: {
      external: ['onnxruntime-node'],
      // keepNames: readable stack traces (error names are literals in errors.ts).
      output: { format: 'es', entryFileNames: 'cli.js', chunkFileNames: '[name]-[hash].js', keepNames: true },
    },
  },
});
