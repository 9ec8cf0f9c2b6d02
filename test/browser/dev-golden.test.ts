/**
 * FLUX.1 [dev] in a real headless Chromium (WebGPU on SwiftShader): the golden
 * tiny-flux-dev-a (guidance-distilled, dynamic-shift schedule, 512 text tokens) converted
 * at fp32 and run by the built library must match diffusers: the transformer's first
 * output and the final latents within 1e-3 relative L2, and the pixels within 2 levels at
 * the 99th percentile (through the library's own worker, asking for intermediates; and
 * through `createGenerator().generate({ guidance })`). A [schnell] package refuses a
 * guidance with InvalidParameterError before any weight is fetched. (The [dev] defaults,
 * 28 steps and guidance 3.5, are checked under Node: 28 steps are slow on SwiftShader.)
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoint } from '../../tools/convert/convert-local.ts';
import { percentileAbsDiff, relativeL2 } from '../support/compare.ts';
import { goldenPageParams, goldenRuns, goldenTensors, pngRgb, TINY_FLUX_A, TINY_FLUX_DEV_A, type GoldenRun } from '../support/golden.ts';
import { launchBrowser, startStaticServer, type StaticServer } from './harness.ts';
import { SHIPPED_WORKER } from '../../vite.lib.config.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const runs = goldenRuns(TINY_FLUX_DEV_A);

let tmp: string;
let server: StaticServer;
let browser: Browser;
let page: Page;
let workerUrl: string;

type PageError = { name: string; message: string; className: string; isInvalidParameter: boolean; fields: Record<string, unknown> };

const request = (run: GoldenRun) => goldenPageParams(run, TINY_FLUX_DEV_A);

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flux-dev-browser-'));
  await build({ configFile: join(ROOT, 'vite.lib.config.ts'), root: ROOT, logLevel: 'warn', build: { outDir: join(tmp, 'lib'), emptyOutDir: true } });
  // The library ships its worker under a stable name beside index.js.
  expect(existsSync(join(tmp, 'lib', SHIPPED_WORKER)), 'the library build has its worker file').toBe(true);
  workerUrl = `/lib/${SHIPPED_WORKER}`;
  await convertCheckpoint({ checkpoint: TINY_FLUX_DEV_A, out: join(tmp, 'dev'), weights: 'fp32' });
  await convertCheckpoint({ checkpoint: TINY_FLUX_A, out: join(tmp, 'schnell'), weights: 'fp32' });
  server = await startStaticServer({
    '/': join(ROOT, 'test/browser/pages'),
    '/lib/': join(tmp, 'lib'),
    '/comlink/': join(ROOT, 'node_modules/comlink/dist/esm'),
    '/models/dev/': join(tmp, 'dev'),
    '/models/schnell/': join(tmp, 'schnell'),
  });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (error) => console.error('[page error]', error));
  await page.goto(`${server.origin}/dev-golden.html`);
  await page.waitForFunction(() => 'devTestReady' in window, null, { timeout: 30_000 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const call = <T>(fn: string, ...args: unknown[]): Promise<T> =>
  page.evaluate(([f, a]) => (window as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>).devTest[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;

/** RGB bytes of a PNG from the page. */
function pageRgb(image: { type: string; bytes: number[] }): Uint8Array {
  expect(image.type).toBe('image/png');
  return pngRgb(Uint8Array.from(image.bytes)).rgb;
}

describe('tiny-flux-dev-a (fp32) in Chromium matches diffusers', () => {
  for (const run of runs) {
    it(`${run.name} (guidance ${run.guidance}): transformer output, final latents and pixels through the library's worker`, async () => {
      const golden = goldenTensors(run.name, TINY_FLUX_DEV_A);
      const engine = await call<{ ok: boolean; error?: PageError; steps: number; guidance: number; intermediates: Record<string, number[]>; image: { type: string; bytes: number[] } }>('engineGenerate', workerUrl, '/models/dev/', request(run));
      expect(engine.error).toBeUndefined();
      expect(engine).toMatchObject({ ok: true, steps: run.steps, guidance: run.guidance });
      const rel = (key: string) => relativeL2(engine.intermediates[key], golden.get(key)!.data as Float32Array);
      const report = {
        transformer_out_t1: rel('transformer_out_t1'),
        final_packed_latents: rel('final_packed_latents'),
        image_p99: percentileAbsDiff(pageRgb(engine.image), golden.get('image_uint8')!.data as Uint8Array, 99),
      };
      console.log(`Chromium dev ${run.name}`, report);
      expect(report.transformer_out_t1).toBeLessThan(1e-3);
      expect(report.final_packed_latents).toBeLessThan(1e-3);
      expect(report.image_p99).toBeLessThanOrEqual(2);
    }, 180_000);
  }

  it('createGenerator().generate({ guidance }) gives the golden pixels and reports steps and guidance', async () => {
    const run = runs[1];
    // On the same (warm) worker, given through createGenerator's `worker` option.
    const api = await call<{ ok: boolean; error?: PageError; result: { images: { type: string; bytes: number[] }[]; steps: number; guidance: number; width: number; height: number } }>('generate', '/models/dev/', request(run), workerUrl);
    expect(api.error).toBeUndefined();
    expect(api.result).toMatchObject({ steps: run.steps, guidance: run.guidance, width: run.width, height: run.height });
    const p99 = percentileAbsDiff(pageRgb(api.result.images[0]), goldenTensors(run.name, TINY_FLUX_DEV_A).get('image_uint8')!.data as Uint8Array, 99);
    console.log(`Chromium dev ${run.name} through createGenerator: p99 |Δ| = ${p99} levels`);
    expect(p99).toBeLessThanOrEqual(2);
  }, 180_000);

  it('refuses a guidance for a [schnell] package, before any weight request', async () => {
    const before = server.requests.length;
    const tensors = goldenTensors('run0');
    const result = await call<{ ok: boolean; error: PageError }>('generate', '/models/schnell/', {
      promptEmbeddings: { promptEmbeds: Array.from(tensors.get('prompt_embeds')!.data as Float32Array), pooledPromptEmbeds: Array.from(tensors.get('pooled_prompt_embeds')!.data as Float32Array) },
      width: 32, height: 32, guidance: 3.5,
    });
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ className: 'InvalidParameterError', isInvalidParameter: true, fields: { field: 'guidance', received: 3.5 } });
    expect(result.error.message).toMatch(/not guidance-distilled/);
    const fetched = server.requests.slice(before).map((r) => r.url).filter((u) => u.startsWith('/models/schnell/'));
    expect(fetched.length).toBeGreaterThan(0);
    expect(fetched.every((u) => u === '/models/schnell/manifest.json')).toBe(true);
  }, 60_000);
});
