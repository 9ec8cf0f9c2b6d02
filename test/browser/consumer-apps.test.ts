/**
 * `npm install flux-webgpu` in real web apps: the library is packed (`npm pack`, whose
 * `prepack` builds it), and the tarball goes into two fresh projects made here in a
 * temporary folder with a plain `npm install`: a Vite app (TypeScript, `tsc --noEmit` over
 * a file that uses the public API) and a webpack 5 app without any webpack config. Each
 * is built, served on 127.0.0.1 and generates an image with the demo model in headless
 * Chromium through `createGenerator`, the webpack app also through `<flux-generator>`
 * (`import 'flux-webgpu/widget'`, its worker and wasm from another origin through the
 * `worker-url` / `wasm-paths` attributes), and the Vite app once more from its dev server,
 * where a misplaced worker or wasm (answered with the dev server's HTML page) must end in a
 * `LibraryAssetError`. The demo model comes from the packed CLI (`npx flux-webgpu
 * demo-model`), which runs without tsx and without onnxruntime-node.
 *
 * Slow by nature (one pack, two installs, two builds, four generations on SwiftShader):
 * 64×64, one step, one browser for everything.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { percentileAbsDiff } from '../support/compare.ts';
import {
  hasInstalled,
  installedPackages,
  npmInstall,
  packLibrary,
  run,
  startViteDevServer,
  webpackIndexHtml,
  writeViteApp,
  writeWebpackApp,
  type PackedLibrary,
  type PageImage,
} from '../support/consumer-apps.ts';
import { launchBrowser, startStaticServer } from './harness.ts';

let tmp: string;
let packed: PackedLibrary;
let viteApp: string;
let webpackApp: string;
let browser: Browser;
/** Decoded RGBA pixels of the first image generated, to compare the others with. */
let firstPixels: Uint8Array | undefined;

const log = (line: string) => console.log(`[consumer-apps] ${line}`);

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flux-consumers-'));
  packed = await packLibrary(join(tmp, 'pack'));
  log(`npm pack: ${(packed.size / 2 ** 20).toFixed(1)} MiB (${(packed.unpackedSize / 2 ** 20).toFixed(1)} MiB unpacked), ${packed.files.length} files, ${(packed.ms / 1000).toFixed(1)} s`);
  viteApp = join(tmp, 'vite-app');
  webpackApp = join(tmp, 'webpack-app');
  writeViteApp(viteApp, packed.tarball);
  writeWebpackApp(webpackApp, packed.tarball);
  // One install each, in turn (two cores).
  for (const app of [viteApp, webpackApp]) log(`npm install in ${app}: ${((await npmInstall(app)).ms / 1000).toFixed(1)} s`);
  browser = await launchBrowser();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/**
 * Opens `url`, runs `fluxConsumer[call]()` for each call at once (each has its own worker)
 * and checks the 64×64 PNGs they return.
 */
async function generateOn(url: string, calls: ('generate' | 'widget')[], label: string, failedRequests: string[]): Promise<void> {
  const page: Page = await browser.newPage();
  page.on('pageerror', (error) => console.error(`[${label} page error]`, error));
  page.on('response', (response) => {
    if (response.status() >= 400 && !response.url().endsWith('/favicon.ico')) failedRequests.push(`${response.status()} ${response.url()}`);
  });
  try {
    await page.goto(url);
    await page.waitForFunction(() => 'fluxConsumer' in window, null, { timeout: 60_000 });
    const started = performance.now();
    const results = (await page.evaluate((c) => Promise.all(c.map((call) => (window as unknown as { fluxConsumer: Record<string, () => Promise<unknown>> }).fluxConsumer[call]())), calls)) as PageImage[];
    results.forEach((result, i) => {
      const timings = Object.entries(result.timings ?? {}).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ');
      log(`${label}, ${calls[i]}: ${result.error ? `${result.error.name}: ${result.error.message}` : `${result.width}×${result.height} ${result.type} on ${result.backend} (${timings})`}; ${((performance.now() - started) / 1000).toFixed(1)} s for the page`);
    });
    for (const result of results) {
      expect(result.error).toBeUndefined();
      expect(result).toMatchObject({ backend: 'local', width: 64, height: 64, type: 'image/png' });
      const png = decode(Uint8Array.from(result.bytes!));
      expect([png.width, png.height]).toEqual([64, 64]);
      const pixels = Uint8Array.from(png.data as Uint8Array);
      // The same request through every bundling gives the same image (same library, same seed).
      if (!firstPixels) firstPixels = pixels;
      else expect(percentileAbsDiff(pixels, firstPixels, 99)).toBeLessThanOrEqual(1);
    }
  } finally {
    await page.close();
  }
}

describe('the packed library', () => {
  it('holds the built library, its types, the CLI, README and LICENSE, and no tests, benches or sources', () => {
    const files = new Set(packed.files);
    for (const file of ['package.json', 'README.md', 'LICENSE', 'dist/lib/index.js', 'dist/lib/widget.js', 'dist/lib/generator.worker.js', 'dist/lib/ort-wasm-simd-threaded.asyncify.wasm', 'dist/lib/types/index.d.ts', 'dist/lib/types/widget/index.d.ts', 'dist/lib/THIRD_PARTY_LICENSES.txt', 'dist/cli/cli.js', 'tools/flux-webgpu.mjs']) {
      expect(files, file).toContain(file);
    }
    const unwanted = packed.files.filter((f) => /^(test|src|workers|public)\//.test(f) || (/^tools\//.test(f) && f !== 'tools/flux-webgpu.mjs') || /\.(test\.)?ts$/.test(f.replace(/\.d\.ts$/, '')) || f.endsWith('.map'));
    expect(unwanted).toEqual([]);
  });

  it('installs nothing else into a web app: no onnxruntime-node, no tsx, no onnxruntime-web', async () => {
    for (const app of [viteApp, webpackApp]) {
      expect(hasInstalled(app, 'flux-webgpu')).toBe(true);
      for (const name of ['onnxruntime-node', 'onnxruntime-web', 'onnxruntime-common', 'tsx']) expect(hasInstalled(app, name), `${name} in ${app}`).toBe(false);
    }
    // The installed production tree is the package alone (onnxruntime-node is an optional peer: not installed).
    const tree = (await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], viteApp)).stdout.trim().split('\n');
    expect(tree.map((path) => path.slice(viteApp.length))).toEqual(['', '/node_modules/flux-webgpu']);
    log(`vite app node_modules: ${installedPackages(viteApp).length} packages (vite, typescript and theirs + flux-webgpu)`);
  });
});

describe('the packed CLI (npx flux-webgpu), without tsx or onnxruntime-node', () => {
  it('writes the demo model, and refuses to run a package locally with a message naming onnxruntime-node', async () => {
    const demo = await run('npx', ['--no-install', 'flux-webgpu', 'demo-model', '--out', 'public/models/demo'], viteApp);
    expect(demo.stdout).toMatch(/wrote the demo model/);
    expect(JSON.parse(readFileSync(join(viteApp, 'public/models/demo/manifest.json'), 'utf8'))).toHaveProperty('files');
    const generate = await run('npx', ['--no-install', 'flux-webgpu', 'generate', '--model', 'public/models/demo', '--prompt', 'a fox', '--width', '64', '--height', '64', '--steps', '1', '--out', 'x.png'], viteApp, { check: false });
    expect(generate.code).toBe(1);
    expect(generate.stderr).toMatch(/needs onnxruntime-node, which is not installed: install it next to flux-webgpu: "npm i -D onnxruntime-node"/);
  }, 120_000);
});

describe('a Vite app', () => {
  it('type-checks a file that uses the public API (tsc --noEmit, skipLibCheck off)', async () => {
    const result = await run(join(viteApp, 'node_modules/.bin/tsc'), ['--noEmit', '-p', '.'], viteApp, { check: false });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
  }, 120_000);

  it('builds (vite build) and generates from the build through createGenerator', async () => {
    const built = await run(join(viteApp, 'node_modules/.bin/vite'), ['build'], viteApp);
    log(`vite build: ${(built.ms / 1000).toFixed(1)} s`);
    const assets = readFileSync(join(viteApp, 'dist/index.html'), 'utf8');
    expect(assets).toMatch(/assets\/index-[\w-]+\.js/);
    const server = await startStaticServer({ '/': join(viteApp, 'dist') });
    const failed: string[] = [];
    try {
      await generateOn(`${server.origin}/`, ['generate'], 'vite build', failed);
      const urls = server.requests.map((r) => r.url);
      // The worker and the wasm came from the app's own build output.
      expect(urls.some((u) => /^\/assets\/generator\.worker-[\w-]+\.js$/.test(u))).toBe(true);
      expect(urls.some((u) => /^\/assets\/ort-wasm-simd-threaded\.asyncify-[\w-]+\.wasm$/.test(u))).toBe(true);
    } finally {
      await server.close();
    }
    expect(failed).toEqual([]);
  }, 300_000);

  it('generates from the Vite dev server through createGenerator, and names a misplaced worker or wasm (LibraryAssetError)', async () => {
    const dev = await startViteDevServer(viteApp);
    const failed: string[] = [];
    try {
      await generateOn(dev.url, ['generate'], 'vite dev', failed);
      // The dev server answers a missing file with its index.html: the failure this error replaces
      // was onnxruntime's "expected magic word 00 61 73 6d, found 3c 21 44 4f".
      const page = await browser.newPage();
      try {
        await page.goto(dev.url);
        await page.waitForFunction(() => 'fluxConsumer' in window, null, { timeout: 60_000 });
        const misplaced = (await page.evaluate(() => (window as unknown as { fluxConsumer: { misplaced(): Promise<unknown> } }).fluxConsumer.misplaced())) as Record<string, Record<string, unknown>>;
        log(`vite dev, misplaced files: ${JSON.stringify(misplaced)}`);
        expect(misplaced.worker).toMatchObject({ name: 'LibraryAssetError', asset: 'worker', isLibraryAssetError: true });
        expect(misplaced.worker.message).toMatch(/generator\.worker\.js\) could not be loaded.*workerUrl and wasmPaths/);
        expect(misplaced.wasm).toMatchObject({ name: 'LibraryAssetError', asset: 'wasm', isLibraryAssetError: true, url: `${dev.url}missing/ort-wasm-simd-threaded.asyncify.wasm` });
        expect(misplaced.wasm.message).toMatch(/could not be loaded from .*missing\/ort-wasm-simd-threaded\.asyncify\.wasm: (the server sent text\/html starting with "<!do|HTTP 404)/i);
      } finally {
        await page.close();
      }
    } finally {
      await dev.close();
    }
    expect(failed).toEqual([]);
  }, 300_000);
});

describe('a webpack 5 app without a webpack config', () => {
  let server: Awaited<ReturnType<typeof startStaticServer>>;
  /** The package's dist/lib on another origin, as a CDN would serve it (for the widget's worker-url / wasm-paths). */
  let cdn: Awaited<ReturnType<typeof startStaticServer>>;
  const failed: string[] = [];

  beforeAll(async () => {
    const built = await run(join(webpackApp, 'node_modules/.bin/webpack'), ['--mode', 'production'], webpackApp);
    log(`webpack: ${(built.ms / 1000).toFixed(1)} s`);
    expect(built.stdout).not.toMatch(/\bERROR\b/);
    cdn = await startStaticServer({ '/lib/': join(webpackApp, 'node_modules/flux-webgpu/dist/lib') });
    writeFileSync(join(webpackApp, 'dist/index.html'), webpackIndexHtml(cdn.origin));
    server = await startStaticServer({ '/': join(webpackApp, 'dist'), '/models/': join(viteApp, 'public/models') });
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    await cdn?.close();
  });

  it('generates through createGenerator and through <flux-generator> (import "flux-webgpu/widget", worker-url and wasm-paths on another origin), at once', async () => {
    await generateOn(`${server.origin}/`, ['generate', 'widget'], 'webpack', failed);
    expect(failed).toEqual([]);
    // createGenerator: webpack emitted the worker and the wasm as its own files.
    const urls = server.requests.map((r) => r.url);
    expect(urls.some((u) => /^\/[\w-]+\.wasm$/.test(u))).toBe(true);
    expect(urls.filter((u) => u.endsWith('.js')).length).toBeGreaterThanOrEqual(2);
    // The widget: its worker and wasm came from the other origin, as its attributes say.
    expect(cdn.requests.map((r) => r.url)).toEqual(expect.arrayContaining(['/lib/generator.worker.js', '/lib/ort-wasm-simd-threaded.asyncify.wasm']));
  }, 300_000);
});
