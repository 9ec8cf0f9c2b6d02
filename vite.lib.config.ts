/**
 * The library build, `dist/lib/` (what the npm package ships, and what a static host
 * serves as is):
 *
 * - `index.js` (`import { createGenerator } from 'flux-webgpu'`) and `widget.js`
 *   (`import 'flux-webgpu/widget'`, or `<script type="module" src=".../widget.js">`), ES
 *   modules with their shared chunks; every dependency is bundled in, so a consumer
 *   installs nothing else and imports resolve without a bundler;
 * - `generator.worker.js` and `ort-wasm-simd-threaded.asyncify.wasm` under those stable
 *   names, referenced only as `new Worker(new URL('./generator.worker.js', import.meta.url), …)`
 *   and `new URL('./ort-wasm-simd-threaded.asyncify.wasm', import.meta.url)`: the form
 *   Vite and webpack 5 recognize (they bundle the worker and emit the wasm wherever their
 *   output goes), and that a static host or CDN resolves beside the module.
 *   `shippedUrls()` below fails the build when the output loses that form.
 * - `THIRD_PARTY_LICENSES.txt`: the bundled packages' licenses;
 * - the types (`types/`): `npm run build:lib` runs tools/package/lib-types.mjs after this build.
 *
 * Vite's `build.lib` mode is not used on purpose: it inlines every asset as base64
 * (the 27 MB wasm included). A plain build with JS entries keeps them as files.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { thirdPartyLicenses } from './tools/package/third-party-licenses.ts';

/** Stable names of the files the shipped JS refers to. */
export const SHIPPED_WORKER = 'generator.worker.js';
export const SHIPPED_WASM = 'ort-wasm-simd-threaded.asyncify.wasm';

/**
 * Vite writes a relative-base URL as new URL(new URL(`name`, import.meta.url).href, ``+import.meta.url)
 * or new URL(`name`, import.meta.url). For a file the build ships, both become
 * new URL("./name", import.meta.url), the form bundlers pick up. Any other name (in
 * onnxruntime's code: its own bundle's file name, which exists only in onnxruntime's
 * package and matters only for its proxy/thread workers) is hidden from bundlers as
 * new URL("name", ""+import.meta.url); webpack would otherwise fail on the missing file.
 * (`""+import.meta.url` is still the module's URL where it runs unbundled.)
 */
function literalUrls(code: string, shipped: Set<string>): string {
  const name = String.raw`[\`'"]\.?\/?([\w.-]+\.(?:m?js|wasm))[\`'"]`;
  const nested = new RegExp(String.raw`new URL\(new URL\(${name},import\.meta\.url\)\.href,\s*(?:\`\`|''|"")\s*\+\s*import\.meta\.url\)`, 'g');
  // `new r(…)` too: onnxruntime hides URL behind an alias, which webpack sees through.
  const plain = new RegExp(String.raw`new ([\w$]+)\(${name},\s*import\.meta\.url\)`, 'g');
  const rewrite = (constructor: string, file: string) =>
    shipped.has(file) ? `new URL(${JSON.stringify(`./${file}`)},import.meta.url)` : `new ${constructor}(${JSON.stringify(file)},""+import.meta.url)`;
  // new URL(variable, import.meta.url) (the cross-origin fallback in worker-url.ts): webpack would
  // make it a "context" of every file in the folder, with a warning.
  const variable = /new URL\(([\w$]+),\s*import\.meta\.url\)/g;
  return code
    .replace(nested, (_, file: string) => rewrite('URL', file))
    .replace(plain, (_, constructor: string, file: string) => rewrite(constructor, file))
    .replace(variable, (_, value: string) => `new URL(${value},""+import.meta.url)`);
}

/**
 * Keeps the worker and wasm references in the literal form bundlers recognize, and checks
 * the output: `./`-relative, stable names, one worker reference in the entries' chunks and
 * one wasm reference in the worker.
 */
function shippedUrls(check: boolean): Plugin {
  const WORKER_URL_IMPORT = /[\\/]workers[\\/]generator\.worker\.ts\?worker&url$/;
  const VIRTUAL = '\0flux-webgpu-shipped-worker-file';
  return {
    name: 'flux-webgpu-shipped-urls',
    enforce: 'pre',
    // worker-url.ts needs the worker's file name only as a string (for a library loaded
    // from another origin); a variable, so bundlers do not emit the worker twice.
    async resolveId(source, importer) {
      if (!source.endsWith('?worker&url') || !importer) return null;
      const resolved = await this.resolve(source.slice(0, -'?worker&url'.length), importer, { skipSelf: true });
      return resolved && WORKER_URL_IMPORT.test(`${resolved.id}?worker&url`) ? VIRTUAL : null;
    },
    load(id) {
      return id === VIRTUAL ? `export default ${JSON.stringify(`./${SHIPPED_WORKER}`)};` : null;
    },
    // After Vite has written its own URLs (it does so late, in generateBundle).
    generateBundle: {
      order: 'post',
      handler(_, bundle) {
        const shipped = new Set([SHIPPED_WORKER, SHIPPED_WASM, ...Object.keys(bundle)]);
        for (const file of Object.values(bundle)) {
          if (file.type === 'chunk') file.code = literalUrls(file.code, shipped);
          else if (file.fileName.endsWith('.js')) file.source = literalUrls(String(file.source), shipped);
        }
      },
    },
    writeBundle(options) {
      if (!check || process.env.NOCHECK) return;
      const dir = options.dir!;
      const read = (file: string) => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8') : '');
      const problems: string[] = [];
      const chunks = readdirSync(dir).filter((f) => f.endsWith('.js') && f !== SHIPPED_WORKER);
      const workerRef = `new Worker(new URL("./${SHIPPED_WORKER}",import.meta.url),{type:\`module\``;
      if (!chunks.some((f) => read(f).includes(workerRef))) problems.push(`no literal ${workerRef}…) in ${chunks.join(', ')}`);
      if (!read(SHIPPED_WORKER)) problems.push(`no ${SHIPPED_WORKER}`);
      if (!existsSync(join(dir, SHIPPED_WASM))) problems.push(`no ${SHIPPED_WASM}`);
      if (!read(SHIPPED_WORKER).includes(`new URL("./${SHIPPED_WASM}",import.meta.url)`)) problems.push(`no literal new URL("./${SHIPPED_WASM}",import.meta.url) in ${SHIPPED_WORKER}`);
      const strays = readdirSync(dir).filter((f) => f.endsWith('.wasm') && f !== SHIPPED_WASM);
      if (strays.length) problems.push(`unexpected wasm files ${strays.join(', ')}`);
      if (problems.length) this.error(`library build: ${problems.join('; ')}`);
    },
  };
}

const licenses = thirdPartyLicenses();

export default defineConfig({
  base: './',
  publicDir: false,
  plugins: [shippedUrls(true), licenses.write()],
  worker: {
    format: 'es',
    plugins: () => [shippedUrls(false), licenses.collect()],
    rolldownOptions: { output: { entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js', assetFileNames: '[name][extname]', keepNames: true } },
  },
  build: {
    outDir: 'dist/lib',
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: '',
    copyPublicDir: false,
    modulePreload: false,
    reportCompressedSize: false,
    rolldownOptions: {
      input: { index: 'src/index.ts', widget: 'src/widget/index.ts' },
      preserveEntrySignatures: 'strict',
      // keepNames: readable stack traces (error names are literals in errors.ts, not class names).
      output: { entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js', assetFileNames: '[name][extname]', keepNames: true },
    },
  },
});
