/**
 * The library end to end in a real headless Chromium (WebGPU on SwiftShader): the ES
 * module library is built once (`vite.lib.config.ts`, into a temporary folder), served
 * by the harness's static server next to model packages, and imported by a plain page
 * (`pages/engine.html`) exactly as another site would. Everything runs through
 * `createGenerator()` → worker → onnxruntime-web (native WebGPU EP).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { PromptTokenizer } from '../../src/text/prompt-tokenizer.ts';
import { countTokens } from '../../src/text/token-count.ts';
import type { Manifest } from '../../src/package/manifest.ts';
import { convertCheckpoint } from '../../tools/convert/convert-local.ts';
import { writeDemoModel } from '../../tools/demo/demo-model.ts';
import { vaeOutputToRgb } from '../../src/pipeline/image.ts';
import { percentileAbsDiff, relativeL2 } from '../support/compare.ts';
import { goldenPageParams, goldenRuns, goldenTensors, pngRgb as decodePngRgb, TINY_FLUX_A, type GoldenRun } from '../support/golden.ts';
import { launchBrowser, startStaticServer, type StaticServer } from './harness.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const DEMO_PROMPT = 'a lighthouse on a cliff at dusk, oil painting';
const DEMO_REQUEST = { width: 64, height: 64, steps: 2, seed: 1234 };

/** What the test page returns for one `generate()` call. */
interface PageGenerateResult {
  ok: boolean;
  result?: {
    images: { type: string; bytes: number[] }[];
    seed: number;
    width: number;
    height: number;
    steps: number;
    backend: string;
    timings: Record<string, number>;
    warnings: string[];
  };
  error?: PageError;
  ms: number;
  abortedAt?: number;
  rejectedAt?: number;
}

interface PageError {
  name: string;
  message: string;
  className: string;
  instanceOf: Record<string, boolean>;
  fields: Record<string, unknown>;
}

type ProgressRecord = { label?: string; t: number; stage: string; step?: number; steps?: number };

let tmp: string;
let server: StaticServer;
let browser: Browser;
let page: Page;
let demoManifest: Manifest;
/** Milliseconds of one warm denoising step of golden run0 (set by the queueing test). */
let warmStepMs: number | undefined;

const pageCall = <T>(fn: string, ...args: unknown[]): Promise<T> =>
  page.evaluate(([f, a]) => (window as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>).fluxTest[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;

const generate = (key: string, params: Record<string, unknown>, options: { abortOn?: string; label?: string } = {}) =>
  pageCall<PageGenerateResult>('generate', key, params, options);

/** Golden request of one run: prompt embeddings, size, steps, seed. */
const goldenParams = (run: GoldenRun) => goldenPageParams(run);

/** Decodes a PNG from the page to RGB bytes. */
function pngRgb(image: { type: string; bytes: number[] }): { rgb: Uint8Array; width: number; height: number } {
  expect(image.type).toBe('image/png');
  return decodePngRgb(Uint8Array.from(image.bytes));
}

function expectMatchesGolden(result: PageGenerateResult, run: GoldenRun): void {
  expect(result.error).toBeUndefined();
  expect(result.ok).toBe(true);
  const image = pngRgb(result.result!.images[0]);
  expect([image.width, image.height]).toEqual([run.width, run.height]);
  const p99 = percentileAbsDiff(image.rgb, goldenTensors(run.name).get('image_uint8')!.data as Uint8Array, 99);
  console.log(`golden ${run.name}: p99 |Δ| = ${p99} levels, timings ${JSON.stringify(result.result!.timings)}`);
  expect(p99).toBeLessThanOrEqual(2);
  expect(result.result).toMatchObject({ seed: run.seed, width: run.width, height: run.height, steps: run.steps, backend: 'local' });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flux-engine-'));
  // The library, built as a site would get it.
  await build({ configFile: join(ROOT, 'vite.lib.config.ts'), root: ROOT, logLevel: 'warn', build: { outDir: join(tmp, 'lib'), emptyOutDir: true } });
  // Packages: golden tiny-flux-a at fp32, a copy whose manifest asks for more than any adapter gives, and the demo.
  await convertCheckpoint({ checkpoint: TINY_FLUX_A, out: join(tmp, 'golden'), weights: 'fp32' });
  const editedCopy = (name: string, edit: (manifest: Manifest) => void) => {
    cpSync(join(tmp, 'golden'), join(tmp, name), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(tmp, name, 'manifest.json'), 'utf8')) as Manifest;
    edit(manifest);
    writeFileSync(join(tmp, name, 'manifest.json'), JSON.stringify(manifest, null, 1));
  };
  // 1 TiB: more than any adapter's maxBufferSize (SwiftShader: 1 GiB).
  editedCopy('toobig', (m) => void (m.requirements.largestWeightBufferBytes = 2 ** 40));
  // Its VAE would need 4 GiB per 64×64 image.
  editedCopy('bigact', (m) => void (m.requirements.largestActivationBytesAt1024 = 2 ** 40));
  demoManifest = await writeDemoModel({ out: join(tmp, 'demo'), weights: 'fp32' });
  expect(demoManifest.tokenizers, 'the demo package has text encoders').toBeDefined();
  // The Node CLI's fp32 run of the same request, for seed parity.
  execFileSync(process.execPath, [
    join(ROOT, 'tools/flux-webgpu.mjs'), 'generate', '--model', join(tmp, 'demo'), '--prompt', DEMO_PROMPT,
    '--width', String(DEMO_REQUEST.width), '--height', String(DEMO_REQUEST.height), '--steps', String(DEMO_REQUEST.steps),
    '--seed', String(DEMO_REQUEST.seed), '--out', join(tmp, 'demo-node.png'), '--dump', join(tmp, 'demo-node.safetensors'),
  ], { cwd: ROOT, stdio: 'pipe' });

  server = await startStaticServer({
    '/': join(ROOT, 'test/browser/pages'),
    '/lib/': join(tmp, 'lib'),
    '/models/golden/': join(tmp, 'golden'),
    '/models/toobig/': join(tmp, 'toobig'),
    '/models/bigact/': join(tmp, 'bigact'),
    '/models/demo/': join(tmp, 'demo'),
    // The demo again under another URL: a package of its own in the weight store.
    '/models/demo-load/': join(tmp, 'demo'),
  });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (error) => console.error('[page error]', error));
  await page.goto(`${server.origin}/engine.html`);
  await page.waitForFunction(() => 'fluxTestReady' in window, null, { timeout: 30_000 });
  await pageCall('create', 'golden', { model: '/models/golden/', allowAnySize: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('library build', () => {
  it('exports createGenerator and the error classes from dist/lib/index.js', async () => {
    const names = await page.evaluate(() => (window as unknown as { fluxTest: { exports: string[] } }).fluxTest.exports);
    expect(names).toEqual(expect.arrayContaining(['createGenerator', 'AbortedError', 'DeviceCapabilityError', 'InvalidParameterError', 'DEFAULTS', 'LIMITS']));
  });
});

describe('golden tiny-flux-a (fp32) through the library', () => {
  it('matches diffusers for every golden run (one after another)', async () => {
    const progress: ProgressRecord[] = [];
    for (const run of goldenRuns()) {
      await pageCall('clearEvents');
      expectMatchesGolden(await generate('golden', goldenParams(run), { label: run.name }), run);
      progress.push(...(await pageCall<ProgressRecord[]>('events')));
    }
    const stages = progress.filter((e) => e.label === 'run0').map((e) => e.stage);
    // First call: download and load progress, then denoise per step, decode, done.
    expect(stages).toContain('download');
    expect(stages).toContain('load');
    expect(stages.filter((s) => s === 'denoise')).toHaveLength(goldenRuns()[0].steps);
    expect(stages.slice(-2)).toEqual(['decode', 'done']);
  }, 120_000);

  it('queues concurrent generate() calls: each gets its own result, and a queued one can be cancelled', async () => {
    const [run0, run1] = goldenRuns();
    const [a, b, c] = (await page.evaluate(
      ([p0, p1]) => {
        const t = (window as unknown as { fluxTest: { generate(k: string, p: unknown, o: unknown): Promise<unknown> } }).fluxTest;
        return Promise.all([t.generate('golden', p0, { label: 'a' }), t.generate('golden', p1, { label: 'b' }), t.generate('golden', p0, { label: 'c', abortAfterMs: 50 })]);
      },
      [goldenParams(run0), goldenParams(run1)] as const,
    )) as PageGenerateResult[];
    expectMatchesGolden(a, run0);
    expectMatchesGolden(b, run1);
    warmStepMs = a.result!.timings.denoiseMs / run0.steps;
    expect(c.error).toMatchObject({ name: 'AbortedError', className: 'AbortedError' });
    // The cancelled request was still queued behind a: it rejected long before a finished.
    expect(c.ms).toBeLessThan(a.ms);
    const events = await pageCall<ProgressRecord[]>('events');
    expect(events.filter((e) => e.label === 'c' && e.stage === 'denoise')).toEqual([]);
  }, 120_000);

  it('returns numImages images (seed, seed+1, …) in the requested format', async () => {
    const run1 = goldenRuns()[1];
    await pageCall('clearEvents');
    const two = await generate('golden', { ...goldenParams(run1), numImages: 2 }, { label: 'two' });
    expectMatchesGolden(two, run1);
    expect(two.result!.images).toHaveLength(2);
    expect(pngRgb(two.result!.images[1]).rgb).not.toEqual(pngRgb(two.result!.images[0]).rgb);
    const denoise = (await pageCall<(ProgressRecord & { image: number; images: number })[]>('events')).filter((e) => e.stage === 'denoise');
    expect(denoise.map((e) => [e.image, e.images])).toEqual([[1, 2], [2, 2]]);
    for (const format of ['webp', 'jpeg'] as const) {
      const encoded = await generate('golden', { ...goldenParams(run1), outputFormat: format });
      expect(encoded.result!.images[0].type).toBe(`image/${format}`);
    }
  }, 120_000);

  it('cancels during denoising within one step, and generates again afterwards', async () => {
    await pageCall('clearEvents');
    const steps = 20;
    const cancelled = await generate('golden', { ...goldenParams(goldenRuns()[0]), steps }, { abortOn: 'denoise', label: 'cancel' });
    expect(cancelled.ok).toBe(false);
    expect(cancelled.error).toMatchObject({ name: 'AbortedError', className: 'AbortedError' });
    expect(cancelled.error!.instanceOf.AbortedError).toBe(true);
    const events = (await pageCall<ProgressRecord[]>('events')).filter((e) => e.label === 'cancel');
    const abortIndex = events.findIndex((e) => e.stage === 'abort-requested');
    expect(abortIndex).toBeGreaterThan(0);
    // The step running when the abort arrived may finish; no further step starts, nothing is decoded.
    expect(events.slice(abortIndex + 1).filter((e) => e.stage === 'denoise').length).toBeLessThanOrEqual(1);
    expect(events.some((e) => e.stage === 'decode' || e.stage === 'done')).toBe(false);
    const rejectedAfterMs = cancelled.rejectedAt! - cancelled.abortedAt!;

    // The next request waits only for the aborted run to reach its next check (within one
    // step), not for its remaining steps.
    const after = await generate('golden', goldenParams(goldenRuns()[1]));
    expectMatchesGolden(after, goldenRuns()[1]);
    const waitedMs = after.ms - after.result!.timings.totalMs;
    console.log(`cancel: rejected ${rejectedAfterMs.toFixed(0)} ms after abort; the next request waited ${waitedMs.toFixed(0)} ms for the engine (one warm step: ${warmStepMs?.toFixed(0)} ms)`);
    if (warmStepMs !== undefined) expect(waitedMs).toBeLessThan(Math.max(2 * warmStepMs, 1000));
  }, 120_000);
});

describe('tiled VAE decode through the library (decodeLatents)', () => {
  interface TiledRun { name: string; latent_height: number; latent_width: number; tile_sample_min_size: number }
  interface PageDecodeResult {
    ok: boolean;
    result?: { image: { type: string; bytes: number[] }; width: number; height: number; tilePx: number | null; output?: number[]; timings: Record<string, number> };
    error?: PageError;
  }
  const tiledRuns = (): TiledRun[] => JSON.parse(readFileSync(join(TINY_FLUX_A, 'golden.json'), 'utf8')).tiled_decode_runs;
  const decodeParams = (run: TiledRun, tilePx?: number | null) => ({
    latents: Array.from(goldenTensors(run.name).get('vae_input')!.data as Float32Array),
    latentHeight: run.latent_height,
    latentWidth: run.latent_width,
    ...(tilePx === undefined ? {} : { tilePx }),
    keepOutput: true,
  });

  beforeAll(async () => {
    await pageCall('createLocal', 'local', { model: '/models/golden/' });
  });

  for (const run of tiledRuns()) {
    it(`matches diffusers tiled_decode for golden ${run.name} with its tile forced (relative L2 < 1e-3)`, async () => {
      const decoded = await pageCall<PageDecodeResult>('decodeLatents', 'local', decodeParams(run, run.tile_sample_min_size));
      expect(decoded.error).toBeUndefined();
      const expected = goldenTensors(run.name).get('vae_out_tiled')!;
      const [, , H, W] = expected.shape;
      expect(decoded.result).toMatchObject({ width: W, height: H, tilePx: run.tile_sample_min_size });
      const error = relativeL2(decoded.result!.output!, expected.data as Float32Array);
      const image = pngRgb(decoded.result!.image);
      const p99 = percentileAbsDiff(image.rgb, vaeOutputToRgb(expected.data as Float32Array, H, W).rgb, 99);
      console.log(`browser ${run.name} (tile ${run.tile_sample_min_size}px): relative L2 ${error.toExponential(2)} vs vae_out_tiled, image p99 |Δ| ${p99} levels, ${decoded.result!.timings.decodeMs.toFixed(0)} ms`);
      expect(error).toBeLessThan(1e-3);
      expect(p99).toBeLessThanOrEqual(2);
    }, 120_000);
  }

  it('decodes whole where the GPU limits allow it, equal to vae_out_whole; refuses a bad tile naming tilePx', async () => {
    const run = tiledRuns()[2];
    const decoded = await pageCall<PageDecodeResult>('decodeLatents', 'local', decodeParams(run));
    expect(decoded.error).toBeUndefined();
    expect(decoded.result!.tilePx).toBeNull();
    expect(relativeL2(decoded.result!.output!, goldenTensors(run.name).get('vae_out_whole')!.data as Float32Array)).toBeLessThan(1e-3);
    const bad = await pageCall<PageDecodeResult>('decodeLatents', 'local', decodeParams(run, 36));
    expect(bad.error).toMatchObject({ className: 'InvalidParameterError', fields: { field: 'tilePx', received: 36 } });
  }, 120_000);
});

describe('library served from another origin (a CDN)', () => {
  it('starts its worker and finds its wasm there, and generates', async () => {
    const cdn = await startStaticServer({ '/flux/': join(tmp, 'lib') });
    const other = await browser.newPage();
    try {
      await other.goto(`${server.origin}/engine.html?lib=${encodeURIComponent(`${cdn.origin}/flux/index.js`)}`);
      await other.waitForFunction(() => 'fluxTestReady' in window, null, { timeout: 30_000 });
      await other.evaluate(() => (window as unknown as { fluxTest: { create(k: string, o: unknown): void } }).fluxTest.create('cdn', { model: '/models/golden/', allowAnySize: true }));
      const run1 = goldenRuns()[1];
      const result = (await other.evaluate(
        (params) => (window as unknown as { fluxTest: { generate(k: string, p: unknown): Promise<unknown> } }).fluxTest.generate('cdn', params),
        goldenParams(run1),
      )) as PageGenerateResult;
      expectMatchesGolden(result, run1);
      const fromCdn = cdn.requests.map((r) => r.url);
      expect(fromCdn).toEqual(expect.arrayContaining(['/flux/index.js', '/flux/generator.worker.js', '/flux/ort-wasm-simd-threaded.asyncify.wasm']));
    } finally {
      await other.close();
      await cdn.close();
    }
  }, 120_000);
});

describe('errors cross the worker boundary as their own classes', () => {
  beforeAll(async () => {
    await pageCall('create', 'web', { model: '/models/golden/' });
  });

  it('rejects a width outside the web range with InvalidParameterError naming the field', async () => {
    const result = await generate('web', { ...goldenParams(goldenRuns()[0]), width: 64, height: 512 });
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ name: 'InvalidParameterError', className: 'InvalidParameterError', fields: { field: 'width', received: 64 } });
    expect(result.error!.instanceOf).toMatchObject({ InvalidParameterError: true, FluxError: true });
    expect(result.error!.message).toContain('256 to 1440');
  });

  it('names other fields too (numImages, outputFormat, prompt without text encoders)', async () => {
    const base = { ...goldenParams(goldenRuns()[0]), width: 256, height: 256 };
    const numImages = await generate('web', { ...base, numImages: 9 });
    expect(numImages.error).toMatchObject({ className: 'InvalidParameterError', fields: { field: 'numImages' } });
    const format = await generate('web', { ...base, outputFormat: 'gif' });
    expect(format.error).toMatchObject({ className: 'InvalidParameterError', fields: { field: 'outputFormat' } });
    const prompt = await generate('web', { prompt: 'a cat', width: 256, height: 256, steps: 1, seed: 1 });
    expect(prompt.error).toMatchObject({ className: 'InvalidParameterError', fields: { field: 'prompt' } });
  });

  it('reports a missing package as DownloadError with its status', async () => {
    await pageCall('create', 'missing', { model: '/models/nothing-here/' });
    const result = await pageCall<{ ok: boolean; error: PageError }>('load', 'missing');
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ className: 'DownloadError', fields: { status: 404 } });
  });
});

describe('device check', () => {
  it('refuses a package that needs a bigger buffer than the adapter allows, before any weight request', async () => {
    const before = server.requests.length;
    await pageCall('create', 'toobig', { model: '/models/toobig/', allowAnySize: true });
    const report = await pageCall<{ ok: boolean; value: { ok: boolean; shortfalls: { capability: string }[]; reasons: string[]; limits: { maxBufferSize: number } } }>('call', 'toobig', 'checkDevice');
    expect(report.ok).toBe(true);
    expect(report.value.ok).toBe(false);
    expect(report.value.shortfalls.map((s) => s.capability)).toContain('maxBufferSize');
    console.log('device report:', JSON.stringify(report.value));

    const load = await pageCall<{ ok: boolean; error: PageError }>('load', 'toobig');
    expect(load.ok).toBe(false);
    expect(load.error.className).toBe('DeviceCapabilityError');
    expect(load.error.instanceOf.DeviceCapabilityError).toBe(true);
    expect(load.error.fields.missing).toContain('maxBufferSize');
    expect(load.error.message).toContain('maxBufferSize');
    const gen = await generate('toobig', goldenParams(goldenRuns()[0]));
    expect(gen.error).toMatchObject({ className: 'DeviceCapabilityError' });

    const packageRequests = server.requests.slice(before).filter((r) => r.url.startsWith('/models/toobig/'));
    expect(packageRequests.length).toBeGreaterThan(0);
    expect(packageRequests.every((r) => r.url === '/models/toobig/manifest.json')).toBe(true);
  });

  it('refuses an image size whose largest activation exceeds the buffer limits, before any weight request', async () => {
    const before = server.requests.length;
    await pageCall('create', 'bigact', { model: '/models/bigact/', allowAnySize: true });
    const report = await pageCall<{ value: { ok: boolean; maxPixels: number } }>('call', 'bigact', 'checkDevice');
    expect(report.value.ok).toBe(true);
    expect(report.value.maxPixels).toBeLessThan(64 * 64);
    const gen = await generate('bigact', goldenParams(goldenRuns()[0]));
    expect(gen.error).toMatchObject({ className: 'DeviceCapabilityError', fields: { missing: ['maxStorageBufferBindingSize'] } });
    expect(gen.error!.message).toContain('64×64');
    const packageRequests = server.requests.slice(before).filter((r) => r.url.startsWith('/models/bigact/'));
    expect(packageRequests.every((r) => r.url === '/models/bigact/manifest.json')).toBe(true);
  });
});

describe('demo package with text encoders', () => {
  it('counts tokens before any weight download: only the tokenizer files are fetched (and stored), the same ids as under Node', async () => {
    const before = server.requests.length;
    await pageCall('create', 'demo-count', { model: '/models/demo/', allowAnySize: true });
    const prompt = Array.from({ length: 120 }, (_, i) => (i % 2 ? 'lighthouse' : 'cliff')).join(' ');
    const counted = await pageCall<{ ok: boolean; value: { clip: { ids: number[]; tokens: number; maxTokens: number; dropped: string; keptWords: number }; t5: { ids: number[]; maxTokens: number } } }>('call', 'demo-count', 'countTokens', prompt);
    expect(counted.ok).toBe(true);
    const files = (entry: { tokenizerJson: string; tokenizerConfig: string }) => ({
      tokenizerJson: JSON.parse(readFileSync(join(tmp, 'demo', entry.tokenizerJson), 'utf8')),
      tokenizerConfig: JSON.parse(readFileSync(join(tmp, 'demo', entry.tokenizerConfig), 'utf8')),
    });
    const node = countTokens({
      clip: new PromptTokenizer('clip', files(demoManifest.tokenizers!.clip), demoManifest.tokenizers!.clip.maxLength),
      t5: new PromptTokenizer('t5', files(demoManifest.tokenizers!.t5), demoManifest.tokenizers!.t5.maxLength),
    }, prompt);
    expect(counted.value).toEqual(node);
    expect(counted.value.clip.dropped).not.toBe('');
    const tokenizerPaths = [demoManifest.tokenizers!.clip, demoManifest.tokenizers!.t5].flatMap((t) => [t.tokenizerJson, t.tokenizerConfig]);
    const fetched = server.requests.slice(before).map((r) => r.url).filter((u) => u.startsWith('/models/demo/') && u !== '/models/demo/manifest.json');
    expect([...fetched].sort()).toEqual(tokenizerPaths.map((p) => `/models/demo/${p}`).sort());
    // Stored with the package, which lists as partial (its full size known) until it is downloaded.
    const listed = await pageCall<{ value: { packageUrl: string; complete: boolean; bytesStored: number; bytesTotal: number }[] }>('call', 'demo-count', 'listModels');
    const demo = listed.value.find((m) => m.packageUrl.endsWith('/models/demo/'))!;
    const tokenizerBytes = demoManifest.files.filter((f) => tokenizerPaths.includes(f.path)).reduce((sum, f) => sum + f.size, 0);
    expect(demo).toMatchObject({ complete: false, bytesStored: tokenizerBytes, bytesTotal: demoManifest.files.reduce((sum, f) => sum + f.size, 0) });
    await pageCall('dispose', 'demo-count');
  }, 60_000);

  it('generates from a prompt, the same pixels as the Node CLI for the same seed, and no request carries the prompt', async () => {
    const before = server.requests.length;
    await pageCall('create', 'demo', { model: '/models/demo/', allowAnySize: true });
    const result = await generate('demo', { prompt: DEMO_PROMPT, ...DEMO_REQUEST });
    expect(result.error).toBeUndefined();
    const image = pngRgb(result.result!.images[0]);
    const node = readSafetensors(readFileSync(join(tmp, 'demo-node.safetensors')));
    const p99 = percentileAbsDiff(image.rgb, node.get('image_uint8')!.data as Uint8Array, 99);
    console.log(`demo vs Node CLI: p99 |Δ| = ${p99} levels; timings ${JSON.stringify(result.result!.timings)}`);
    expect(p99).toBeLessThanOrEqual(2);

    // Privacy: every request during this local generation is a package file or the
    // library's own worker/wasm, and none carries the prompt in its URL, headers or body.
    const requests = server.requests.slice(before);
    const packageFiles = new Set(['manifest.json', ...demoManifest.files.map((f) => f.path)].map((p) => `/models/demo/${p}`));
    const unexpected = requests.filter((r) => !packageFiles.has(r.url) && !/^\/lib\/[\w.-]+\.(js|wasm)$/.test(r.url));
    expect(unexpected.map((r) => r.url)).toEqual([]);
    const needles = [DEMO_PROMPT, encodeURIComponent(DEMO_PROMPT), 'lighthouse'];
    for (const r of requests) {
      const text = `${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`;
      for (const needle of needles) expect(text).not.toContain(needle);
    }
    expect(requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
  }, 120_000);

  it('reports dropped words of a prompt longer than the encoders see', async () => {
    const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const result = await generate('demo', { prompt: long, ...DEMO_REQUEST, steps: 1 });
    expect(result.error).toBeUndefined();
    expect(result.result!.warnings.join('\n')).toMatch(/dropped/);
  }, 120_000);

  it('lists the stored packages and deletes one', async () => {
    const listed = await pageCall<{ value: { packageUrl: string; complete: boolean; bytesStored: number }[] }>('call', 'demo', 'listModels');
    const demo = listed.value.find((m) => m.packageUrl.endsWith('/models/demo/'));
    expect(demo).toMatchObject({ complete: true });
    expect(demo!.bytesStored).toBe(demoManifest.files.reduce((s, f) => s + f.size, 0));
    await pageCall('call', 'demo', 'deleteModel');
    const after = await pageCall<{ value: { packageUrl: string }[] }>('call', 'demo', 'listModels');
    expect(after.value.some((m) => m.packageUrl.endsWith('/models/demo/'))).toBe(false);
  });
});

describe('load() with a signal, and automatic download retries, through the worker', () => {
  it('load({signal}) aborts a stalled download (bytes kept); load(onProgress, {}) resumes there and retries a 503 by itself', async () => {
    const data = demoManifest.files.filter((f) => f.path.endsWith('.onnx_data')).sort((a, b) => b.size - a.size)[0];
    const path = `/models/demo-load/${data.path}`;
    const dataGets = () => server.requests.filter((r) => r.method === 'GET' && r.url === path);
    server.faults.push({ match: (p) => p === path, stallAfterBytes: 4096 });
    // A long idle timeout: only the signal can end the stalled request in time.
    await pageCall('create', 'loader', { model: '/models/demo-load/', engine: { download: { idleTimeoutMs: 120_000, retryBaseMs: 50 } } });
    const pending = pageCall<{ ok: boolean; error?: PageError; progress: Record<string, unknown>[] }>('loadWith', 'loader', { form: 'options' });
    // Once the server has sent the bytes before its stall (and they had time to be read), abort.
    await expect.poll(() => server.bodyBytesSent.get(path) ?? 0, { timeout: 60_000, interval: 50 }).toBe(4096);
    await new Promise((done) => setTimeout(done, 1_000));
    await pageCall('abortLoads');
    const aborted = await pending;
    expect(aborted.error).toMatchObject({ name: 'AbortedError', className: 'AbortedError' });
    expect(dataGets()).toHaveLength(1);

    server.faults.push({ match: (p) => p === path, status: 503, retryAfter: '0' });
    const loaded = await pageCall<{ ok: boolean; error?: PageError; progress: Record<string, unknown>[] }>('loadWith', 'loader', { form: 'callback' });
    expect(loaded.error).toBeUndefined();
    expect(loaded.ok).toBe(true);
    // The retry was announced across the worker boundary, in words.
    const retry = loaded.progress.find((e) => e.status === 'retrying');
    expect(retry).toMatchObject({ stage: 'download', file: data.path, fault: 'http', httpStatus: 503, attempt: 2 });
    expect(retry!.message).toMatch(/HTTP 503; retrying now \(attempt 2 of 6\)|HTTP 503; retrying in/);
    // Both requests of the second load resumed at the byte the aborted one had stored.
    const requests = dataGets();
    expect(requests).toHaveLength(3);
    expect(requests.slice(1).map((r) => r.headers.range)).toEqual(['bytes=4096-', 'bytes=4096-']);
  }, 120_000);

  it('load() refuses a signal that is not an AbortSignal, naming it', async () => {
    const result = await page.evaluate(async () => {
      const t = (window as unknown as { fluxTest: { call(k: string, m: string, ...a: unknown[]): Promise<{ ok: boolean; error?: { name: string; message: string } }> } }).fluxTest;
      return t.call('loader', 'load', { signal: 'stop' });
    });
    expect(result.error).toMatchObject({ name: 'InvalidParameterError' });
    expect(result.error!.message).toContain('signal must be an AbortSignal');
  });
});
