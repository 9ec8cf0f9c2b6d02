/**
 * `npm run bench -- --only package`: what the npm package costs a web app, from one run.
 *
 * 1. Installed size: `npm pack` of this repository (its `prepack` builds dist/lib and
 *    dist/cli), then a fresh project with nothing but `"flux-webgpu": "file:<tarball>"`
 *    and a plain `npm install`: its node_modules, next to what the same install brought
 *    before the package was reshaped (the old `dependencies`: onnxruntime-node,
 *    onnxruntime-web, tsx, … measured from this repository's node_modules).
 * 2. Transferred size: a page on 127.0.0.1 imports the installed `dist/lib/index.js` (the
 *    files every bundler repackages) and generates one 64×64 image with the demo model
 *    (written by the installed CLI) in headless Chromium; every JS and wasm response is
 *    counted (raw, and gzip as a compressing host would send it), next to the minimum
 *    any page running onnxruntime-web's WebGPU build needs: its JS bundle and its wasm.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { installedPackages, npmInstall, packLibrary, REPO_ROOT, run, treeSize, writeFiles } from '../../test/support/consumer-apps.ts';
import { launchBrowser, startStaticServer } from '../../test/browser/harness.ts';
import type { Bench, BenchOptions, BenchSummary } from './bench.ts';
import { formatBytes, formatMs, table } from './measure.ts';

/** The package's runtime dependencies before it bundled them (commit 1d48b53's package.json). */
const OLD_DEPENDENCIES = ['@huggingface/tokenizers', '@noble/hashes', 'comlink', 'fast-png', 'hash-wasm', 'idb-keyval', 'onnx-proto', 'onnxruntime-common', 'onnxruntime-node', 'onnxruntime-web', 'tsx'];

/** The packages `names` pull in (their dependencies, recursively), as installed in this repository. */
function dependencyClosure(names: string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    const manifest = join(REPO_ROOT, 'node_modules', name, 'package.json');
    let pkg: { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    try {
      pkg = JSON.parse(readFileSync(manifest, 'utf8'));
    } catch {
      return; // an optional dependency for another platform
    }
    seen.add(name);
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) visit(dep);
  };
  names.forEach(visit);
  return seen;
}

const gzipped = (path: string) => gzipSync(readFileSync(path)).length;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8" /><title>package bench</title></head>
<body><script type="module">
  import { createGenerator } from '/lib/index.js';
  window.generateOnce = async () => {
    const generator = createGenerator({ model: '/models/demo/', allowAnySize: true, privacy: 'local-only' });
    try {
      const result = await generator.generate({ prompt: 'a lighthouse at dusk', width: 64, height: 64, steps: 1, seed: 42 });
      return { ok: true, totalMs: result.timings.totalMs };
    } catch (error) {
      return { ok: false, error: String(error && error.message || error) };
    } finally {
      await generator.dispose();
    }
  };
</script></body></html>
`;

async function run_(options: BenchOptions): Promise<BenchSummary> {
  const { log } = options;
  const tmp = mkdtempSync(join(tmpdir(), 'flux-bench-package-'));
  try {
    // ---- 1. Installed size
    const packed = await packLibrary(join(tmp, 'pack'));
    log(`npm pack (with prepack's builds): ${formatMs(packed.ms)}; ${formatBytes(packed.size)} tarball, ${formatBytes(packed.unpackedSize)} unpacked, ${packed.files.length} files`);
    const app = join(tmp, 'app');
    writeFiles(app, { 'package.json': JSON.stringify({ name: 'bench-consumer', private: true, dependencies: { 'flux-webgpu': `file:${packed.tarball}` } }, null, 2) });
    const install = await npmInstall(app);
    const installed = treeSize(join(app, 'node_modules'));
    const packages = installedPackages(app);
    const old = dependencyClosure(OLD_DEPENDENCIES);
    const oldBytes = [...old].reduce((sum, name) => sum + treeSize(join(REPO_ROOT, 'node_modules', name)), 0);
    log('');
    log(table([
      ['npm install flux-webgpu', 'packages', 'node_modules'],
      ['now (this tarball)', String(packages.length), formatBytes(installed)],
      ['before (old dependencies, as installed here)', String(old.size + 1), formatBytes(oldBytes)],
    ]));
    log(`installed: ${packages.join(', ')} in ${formatMs(install.ms)}`);

    // ---- 2. Transferred size
    await run('npx', ['--no-install', 'flux-webgpu', 'demo-model', '--out', join(tmp, 'demo')], app);
    const lib = join(app, 'node_modules/flux-webgpu/dist/lib');
    writeFileSync(join(tmp, 'index.html'), PAGE);
    const server = await startStaticServer({ '/': tmp, '/lib/': lib, '/models/demo/': join(tmp, 'demo') });
    const browser = await launchBrowser();
    let result: { ok: boolean; totalMs?: number; error?: string };
    try {
      const page = await browser.newPage();
      await page.goto(`${server.origin}/index.html`);
      await page.waitForFunction(() => 'generateOnce' in window);
      result = (await page.evaluate(() => (window as unknown as { generateOnce(): Promise<unknown> }).generateOnce())) as typeof result;
    } finally {
      await browser.close();
      await server.close();
    }
    if (!result.ok) throw new Error(`the page could not generate: ${result.error}`);
    const fetched = [...new Set(server.requests.map((r) => r.url).filter((u) => u.startsWith('/lib/')))];
    const files = fetched.map((url) => {
      const path = join(lib, url.slice('/lib/'.length));
      return { url, raw: statSync(path).size, gzip: gzipped(path) };
    });
    const sum = (list: typeof files, key: 'raw' | 'gzip') => list.reduce((s, f) => s + f[key], 0);
    const js = files.filter((f) => f.url.endsWith('.js'));
    const wasm = files.filter((f) => f.url.endsWith('.wasm'));
    const ortDist = join(REPO_ROOT, 'node_modules/onnxruntime-web/dist');
    const ortJs = join(ortDist, 'ort.webgpu.bundle.min.mjs');
    const ortWasm = join(ortDist, 'ort-wasm-simd-threaded.asyncify.wasm');
    const minimum = { js: statSync(ortJs).size, jsGzip: gzipped(ortJs), wasm: statSync(ortWasm).size, wasmGzip: gzipped(ortWasm) };
    log('');
    log(`one 64×64 generation (${formatMs(result.totalMs!)}); the library's files the page fetched:`);
    log(table([
      ['file', 'raw', 'gzip'],
      ...files.map((f) => [f.url.slice('/lib/'.length), formatBytes(f.raw), formatBytes(f.gzip)]),
    ]));
    log('');
    log(table([
      ['transferred (library, not the model)', 'JS', 'JS gzip', 'wasm', 'wasm gzip', 'total gzip'],
      ['this library', formatBytes(sum(js, 'raw')), formatBytes(sum(js, 'gzip')), formatBytes(sum(wasm, 'raw')), formatBytes(sum(wasm, 'gzip')), formatBytes(sum(files, 'gzip'))],
      ['minimum: onnxruntime-web/webgpu alone', formatBytes(minimum.js), formatBytes(minimum.jsGzip), formatBytes(minimum.wasm), formatBytes(minimum.wasmGzip), formatBytes(minimum.jsGzip + minimum.wasmGzip)],
      ['difference (our code + bundled dependencies)', formatBytes(sum(js, 'raw') - minimum.js), formatBytes(sum(js, 'gzip') - minimum.jsGzip), formatBytes(sum(wasm, 'raw') - minimum.wasm), formatBytes(sum(wasm, 'gzip') - minimum.wasmGzip), formatBytes(sum(files, 'gzip') - minimum.jsGzip - minimum.wasmGzip)],
    ]));
    return [
      ['installed size (npm install flux-webgpu)', `${formatBytes(installed)} in ${packages.length} package(s)`],
      ['installed size before (old dependencies)', `${formatBytes(oldBytes)} in ${old.size + 1} packages`],
      ['tarball', formatBytes(packed.size)],
      ['transferred JS + wasm (gzip)', `${formatBytes(sum(files, 'gzip'))} (raw ${formatBytes(sum(files, 'raw'))})`],
      ['minimum (onnxruntime-web webgpu JS + wasm, gzip)', formatBytes(minimum.jsGzip + minimum.wasmGzip)],
    ];
  } finally {
    if (options.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

export const packageBench: Bench = {
  name: 'package',
  description: 'npm package: installed size in a fresh app, and the JS + wasm a page transfers vs onnxruntime-web alone',
  run: run_,
};
