/**
 * Quantized packages with text encoders on a GPU without `shader-f16` (SwiftShader has
 * none): their CLIP/T5 embedding tables are stored as float16, and onnxruntime's WebGPU
 * kernels cannot read float16 there. The engine runs those few lookup nodes on the CPU
 * (the manifest names them), so a q8 prompt-to-image run works and gives the Node CLI's
 * pixels.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decode } from 'fast-png';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/package/manifest.ts';
import { writeDemoModel } from '../../tools/demo/demo-model.ts';
import { percentileAbsDiff } from '../support/compare.ts';
import { launchBrowser, startStaticServer, type StaticServer } from './harness.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const PROMPT = 'a lighthouse on a cliff at dusk';
const REQUEST = { width: 32, height: 32, steps: 1, seed: 7 };

let tmp: string;
let server: StaticServer;
let browser: Browser;
let page: Page;
let manifest: Manifest;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flux-qtext-'));
  await build({ configFile: join(ROOT, 'vite.lib.config.ts'), root: ROOT, logLevel: 'warn', build: { outDir: join(tmp, 'lib'), emptyOutDir: true } });
  manifest = await writeDemoModel({ out: join(tmp, 'demo-q8'), weights: 'q8' });
  execFileSync(process.execPath, [
    join(ROOT, 'tools/flux-webgpu.mjs'), 'generate', '--model', join(tmp, 'demo-q8'), '--prompt', PROMPT,
    '--width', String(REQUEST.width), '--height', String(REQUEST.height), '--steps', String(REQUEST.steps),
    '--seed', String(REQUEST.seed), '--out', join(tmp, 'node.png'),
  ], { cwd: ROOT, stdio: 'pipe' });
  server = await startStaticServer({ '/': join(ROOT, 'test/browser/pages'), '/lib/': join(tmp, 'lib'), '/models/demo-q8/': join(tmp, 'demo-q8') });
  browser = await launchBrowser();
  page = await browser.newPage();
  await page.goto(`${server.origin}/engine.html`);
  await page.waitForFunction(() => 'fluxTestReady' in window, null, { timeout: 30_000 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

it('a q8 package with text encoders generates from a prompt without shader-f16, with the Node CLI pixels', async () => {
  // The manifest names the float16 lookups of both text encoders.
  const named = manifest.graphs.filter((g) => g.float16Nodes?.length).map((g) => g.role);
  expect(named).toEqual(expect.arrayContaining(['text-encoder-clip', 'text-encoder-t5-embed']));
  const result = await page.evaluate(async ({ prompt, request }) => {
    const t = (window as unknown as { fluxTest: Record<string, (...a: unknown[]) => Promise<unknown>> }).fluxTest;
    await t.create('q8', { model: '/models/demo-q8/', allowAnySize: true });
    return t.generate('q8', { prompt, ...request });
  }, { prompt: PROMPT, request: REQUEST }) as { ok: boolean; error?: unknown; result?: { images: { bytes: number[] }[] } };
  expect(result.error).toBeUndefined();
  const browserPng = decode(Uint8Array.from(result.result!.images[0].bytes));
  const nodePng = decode(readFileSync(join(tmp, 'node.png')));
  const rgb = (png: ReturnType<typeof decode>) => (png.data as Uint8Array).filter((_, i) => i % png.channels < 3);
  expect([browserPng.width, browserPng.height]).toEqual([REQUEST.width, REQUEST.height]);
  expect(percentileAbsDiff(rgb(browserPng), rgb(nodePng), 99)).toBeLessThanOrEqual(2);
}, 240_000);
