/**
 * Image-to-image in a real headless Chromium (WebGPU on SwiftShader): golden tiny-flux-a
 * converted at fp32 and run by the built library must match diffusers'
 * FluxImg2ImgPipeline: the VAE encoder's posterior and the image latents within 1e-3
 * relative L2, the noise (the seed's second draw) within 1e-5, the final latents within
 * 1e-3 and the pixels within 2 levels at the 99th percentile (through the library's own
 * worker, asking for intermediates), and the pixels again through
 * `createGenerator().generate({ image, strength })` with the picture as a Blob, a URL and
 * an ImageData. A package without the encoder still loads and refuses image-to-image
 * with a ModelPackageError before any weight is fetched.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decode, encode } from 'fast-png';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/package/manifest.ts';
import { convertCheckpoint } from '../../tools/convert/convert-local.ts';
import { maxAbsDiff, percentileAbsDiff, relativeL2 } from '../support/compare.ts';
import { goldenTensors, TINY_FLUX_A } from '../support/golden.ts';
import { launchBrowser, startStaticServer, type StaticServer } from './harness.ts';

const ROOT = resolve(import.meta.dirname, '../..');

interface Img2ImgRun {
  name: string;
  width: number;
  height: number;
  steps: number;
  seed: number;
  strength: number;
}
const RUNS: Img2ImgRun[] = JSON.parse(readFileSync(`${TINY_FLUX_A}/golden.json`, 'utf8')).img2img_runs;

type PageError = { name: string; message: string; isModelPackageError: boolean; isInvalidParameter: boolean; fields?: Record<string, unknown> };
type PageImage = { type: string; bytes: number[] };

let tmp: string;
let server: StaticServer;
let browser: Browser;
let page: Page;
let workerUrl: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flux-img2img-browser-'));
  await build({ configFile: join(ROOT, 'vite.lib.config.ts'), root: ROOT, logLevel: 'warn', build: { outDir: join(tmp, 'lib'), emptyOutDir: true } });
  const worker = readdirSync(join(tmp, 'lib')).find((f) => /^generator\.worker.*\.js$/.test(f));
  expect(worker, 'the library build has its worker file').toBeDefined();
  workerUrl = `/lib/${worker}`;
  await convertCheckpoint({ checkpoint: TINY_FLUX_A, out: join(tmp, 'golden'), weights: 'fp32' });
  // The same package as an older converter wrote it: no VAE encoder graph.
  cpSync(join(tmp, 'golden'), join(tmp, 'no-encoder'), { recursive: true });
  const manifest = JSON.parse(readFileSync(join(tmp, 'no-encoder', 'manifest.json'), 'utf8')) as Manifest;
  const encoder = manifest.graphs.find((g) => g.role === 'vae-encoder')!;
  manifest.graphs = manifest.graphs.filter((g) => g !== encoder);
  manifest.files = manifest.files.filter((f) => f.path !== encoder.model && f.path !== encoder.data);
  delete manifest.requirements.vaeEncoderWeightBytes;
  writeFileSync(join(tmp, 'no-encoder', 'manifest.json'), JSON.stringify(manifest));
  server = await startStaticServer({
    '/': join(ROOT, 'test/browser/pages'),
    '/lib/': join(tmp, 'lib'),
    '/comlink/': join(ROOT, 'node_modules/comlink/dist/esm'),
    '/models/golden/': join(tmp, 'golden'),
    '/models/no-encoder/': join(tmp, 'no-encoder'),
  });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (error) => console.error('[page error]', error));
  await page.goto(`${server.origin}/img2img.html`);
  await page.waitForFunction(() => 'img2imgTestReady' in window, null, { timeout: 60_000 });
}, 300_000);

afterAll(async () => {
  await page?.evaluate(() => (window as unknown as { img2imgTest: { dispose(): Promise<void> } }).img2imgTest.dispose()).catch(() => undefined);
  await browser?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const call = <T>(fn: string, ...args: unknown[]): Promise<T> =>
  page.evaluate(([f, a]) => (window as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>).img2imgTest[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;

/** A run's request fields as plain arrays (prompt embeddings, size, steps, seed, strength). */
function runParams(run: Img2ImgRun) {
  const golden = goldenTensors(run.name);
  return {
    promptEmbeddings: {
      promptEmbeds: Array.from(golden.get('prompt_embeds')!.data as Float32Array),
      pooledPromptEmbeds: Array.from(golden.get('pooled_prompt_embeds')!.data as Float32Array),
    },
    width: run.width,
    height: run.height,
    steps: run.steps,
    seed: run.seed,
    strength: run.strength,
  };
}

const initRgb = (run: Img2ImgRun) => goldenTensors(run.name).get('init_image_uint8')!.data as Uint8Array;
const initPng = (run: Img2ImgRun) => Array.from(encode({ width: run.width, height: run.height, data: initRgb(run), channels: 3, depth: 8 }));

/** RGB bytes of a PNG from the page. */
function pageRgb(image: PageImage): Uint8Array {
  expect(image.type).toBe('image/png');
  const png = decode(Uint8Array.from(image.bytes));
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let i = 0, j = 0; i < png.data.length; i += png.channels) for (let c = 0; c < 3; c++) rgb[j++] = png.data[i + c];
  return rgb;
}

describe('tiny-flux-a image-to-image (fp32) in Chromium matches diffusers', () => {
  for (const run of RUNS) {
    it(`${run.name} (${run.width}x${run.height}, ${run.steps} steps, strength ${run.strength}): posterior, image latents, noise, final latents and pixels through the library's worker`, async () => {
      const golden = goldenTensors(run.name);
      const engine = await call<{ ok: boolean; error?: PageError; steps: number; strength: number; intermediates: Record<string, number[]>; image: PageImage }>('engineGenerate', workerUrl, '/models/golden/', {
        ...runParams(run),
        image: { rgb: Array.from(initRgb(run)), width: run.width, height: run.height },
      });
      expect(engine.error).toBeUndefined();
      expect(engine).toMatchObject({ ok: true, strength: run.strength });
      const g = (key: string) => golden.get(key)!.data as Float32Array;
      const rel = (key: string) => relativeL2(engine.intermediates[key], g(key));
      const report = {
        vae_encoder_mean: rel('vae_encoder_mean'),
        vae_encoder_logvar: rel('vae_encoder_logvar'),
        image_latents: rel('image_latents'),
        noise: maxAbsDiff(engine.intermediates.noise, g('noise')),
        final_packed_latents: rel('final_packed_latents'),
        image_p99: percentileAbsDiff(pageRgb(engine.image), golden.get('image_uint8')!.data as Uint8Array, 99),
      };
      console.log(`Chromium img2img ${run.name}`, report);
      expect(report.vae_encoder_mean).toBeLessThan(1e-3);
      expect(report.vae_encoder_logvar).toBeLessThan(1e-3);
      expect(report.image_latents).toBeLessThan(1e-3);
      expect(report.noise).toBeLessThan(1e-5);
      expect(report.final_packed_latents).toBeLessThan(1e-3);
      expect(report.image_p99).toBeLessThanOrEqual(2);
    }, 180_000);
  }

  const publicCases: [number, string][] = [
    [0, 'blob'],
    [1, 'url'],
    [2, 'imagedata'],
  ];
  for (const [index, imageAs] of publicCases) {
    const run = RUNS[index];
    it(`${run.name} through createGenerator().generate({ image }) with the picture as ${imageAs}`, async () => {
      const out = await call<{ ok: boolean; error?: PageError; result: { images: PageImage[]; width: number; height: number; seed: number; strength: number } }>('generate', '/models/golden/', runParams(run), initPng(run), imageAs);
      expect(out.error).toBeUndefined();
      expect(out.result).toMatchObject({ width: run.width, height: run.height, seed: run.seed, strength: run.strength });
      const p99 = percentileAbsDiff(pageRgb(out.result.images[0]), goldenTensors(run.name).get('image_uint8')!.data as Uint8Array, 99);
      console.log(`Chromium img2img ${run.name} via ${imageAs}: p99 ${p99}`);
      expect(p99).toBeLessThanOrEqual(2);
    }, 180_000);
  }
});

describe('a package without the VAE encoder', () => {
  it('refuses image-to-image with a ModelPackageError before fetching any weights', async () => {
    const run = RUNS[0];
    const before = server.requests.length;
    const out = await call<{ ok: boolean; error?: PageError }>('generate', '/models/no-encoder/', runParams(run), initPng(run), 'blob');
    expect(out.ok).toBe(false);
    expect(out.error).toMatchObject({ name: 'ModelPackageError', isModelPackageError: true, fields: { reason: 'no-vae-encoder' } });
    expect(out.error!.message).toMatch(/no VAE encoder graph, which image-to-image needs/);
    const fetched = server.requests.slice(before).map((r) => r.url);
    expect(fetched.some((url) => url.startsWith('/models/no-encoder/manifest.json'))).toBe(true);
    expect(fetched.filter((url) => /\.onnx(_data)?$/.test(url))).toEqual([]);
  }, 120_000);
});
