/**
 * The converter's core in a real headless Chromium: the page (Vite dev server) imports
 * src/convert and converts from the fake Hub on other origins (CORS, Range, a 302 to a
 * second host), into an in-memory sink. Its package must be byte-identical to what the
 * Node CLI path writes from the same sources and options: the same manifest text and the
 * same sha256 for every file, for the diffusers layout and for a GGUF Q4_0/Q8_0 override.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WeightPrecision } from '../../src/package/manifest.ts';
import { convertCheckpoint } from '../../tools/convert/convert-local.ts';
import { listFiles } from '../support/checkpoints.ts';
import { startFakeHub, type FakeHub } from '../support/fake-hub.ts';
import { TINY_FLUX_A } from '../support/golden.ts';
import { writeGguf } from '../support/gguf-writer.ts';
import { readNamed, toBflTransformer } from '../support/source-layouts.ts';
import { launchBrowser } from './harness.ts';
import type {} from './pages/convert-page.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const GGUF = 'flux1-tiny-Q.gguf';
let tmp: string;
let hub: FakeHub;
let vite: ViteDevServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'convert-browser-'));
  const diffusers = new Map<string, Uint8Array>();
  for (const path of listFiles(TINY_FLUX_A)) if (/^(transformer|vae|scheduler)\//.test(path)) diffusers.set(path, new Uint8Array(readFileSync(join(TINY_FLUX_A, path))));
  let turn = 0;
  const bfl = toBflTransformer(await readNamed(join(TINY_FLUX_A, 'transformer')), 2, 2);
  writeGguf(join(tmp, GGUF), { 'general.architecture': { type: 'string', value: 'flux' } }, [...bfl].map(([name, t]) => ({
    name,
    shape: t.shape,
    values: t.values,
    type: t.shape.length === 2 && t.shape[1] % 32 === 0 ? (turn++ % 2 ? 'Q8_0' : 'Q4_0') : 'F32',
  })));
  hub = await startFakeHub({
    'test-org/tiny-flux': { files: diffusers },
    'test-org/tiny-flux-gguf': { files: new Map([[GGUF, new Uint8Array(readFileSync(join(tmp, GGUF)))]]) },
  });
  vite = await createServer({
    configFile: false,
    root: ROOT,
    logLevel: 'error',
    cacheDir: join(tmp, 'vite-cache'),
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
    // onnx-proto (protobufjs) is CommonJS: pre-bundle it up front, nothing else, so no reload happens.
    optimizeDeps: { noDiscovery: true, include: ['onnx-proto'] },
  });
  await vite.listen();
  const address = vite.httpServer!.address();
  if (!address || typeof address === 'string') throw new Error('vite did not listen');
  browser = await launchBrowser({ webgpu: false });
  page = await (await browser.newContext()).newPage();
  await page.goto(`http://127.0.0.1:${address.port}/test/browser/pages/convert.html`);
  await page.waitForFunction(() => 'convertTest' in window, undefined, { timeout: 60_000 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await vite?.close();
  await hub?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Converts in the page and through the Node CLI path; returns both. */
async function both(options: { transformer?: string; weights: WeightPrecision }) {
  const inPage = await page.evaluate((o) => window.convertTest.run(o), { hubUrl: hub.hubUrl, checkpoint: 'hf:test-org/tiny-flux', modelId: 'tiny', ...options });
  if ('message' in inPage) throw new Error(`in the page: ${inPage.name}: ${inPage.message}`);
  const out = join(tmp, `cli-${options.weights}-${options.transformer ? 'gguf' : 'diffusers'}`);
  await convertCheckpoint({ checkpoint: 'hf:test-org/tiny-flux', transformer: options.transformer, out, weights: options.weights, modelId: 'tiny', hub: { hubUrl: hub.hubUrl } });
  return { inPage, out };
}

describe('the converter in a browser', () => {
  for (const [label, options] of [
    ['diffusers repository, fp32', { weights: 'fp32' as const }],
    ['GGUF Q4_0/Q8_0 transformer override, q4', { weights: 'q4' as const, transformer: `hf:test-org/tiny-flux-gguf/${GGUF}` }],
  ] as const) {
    it(`${label}: byte-identical to the CLI's package`, async () => {
      const { inPage, out } = await both(options);
      expect(inPage.manifestText).toBe(readFileSync(join(out, 'manifest.json'), 'utf8'));
      const onDisk = Object.fromEntries(listFiles(out).map((path) => [path, createHash('sha256').update(readFileSync(join(out, path))).digest('hex')]));
      expect(inPage.sha256).toEqual(onDisk);
      for (const file of inPage.manifest.files) expect(inPage.sha256[file.path], file.path).toBe(file.sha256);
      console.log(`browser conversion (${label}): ${inPage.manifest.files.length} files, ${inPage.manifest.files.reduce((n, f) => n + f.size, 0)} bytes, identical to the CLI's`);
    }, 120_000);
  }
});
