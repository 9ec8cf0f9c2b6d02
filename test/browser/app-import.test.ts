/**
 * The app's "FLUX.1 from Hugging Face" flow in the built site, in headless
 * Chromium, with a tiny checkpoint on a fake Hub (127.0.0.1): pick a source → its sizes
 * (download, stored) and licence are shown before anything is fetched → check a custom
 * `hf:` reference (file lists, headers and model card only) → confirm → progress (bytes per
 * file and in total) → the model is imported and the generator uses it → generate.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeHub, type FakeHub } from '../support/fake-hub.ts';
import { requestReader, TINY, tinyHubRepos, type RequestReader } from '../support/hub-fixtures.ts';
import { launchBrowser, startStaticServer, type StaticServer } from './harness.ts';
import { buildSite } from './pages/widget-ui-support.ts';

let tmp: string;
let hub: FakeHub;
let tensorRequests: RequestReader['tensorRequests'];
let server: StaticServer;
let browser: Browser;
let page: Page;

const widget = () => page.locator('#generator');
const text = (selector: string) => page.locator(selector).textContent();
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flux-app-import-'));
  const fixtures = await tinyHubRepos(tmp);
  ({ tensorRequests } = requestReader(fixtures));
  hub = await startFakeHub(fixtures.repos);
  await buildSite(join(tmp, 'site'), 'http://127.0.0.1:*');
  server = await startStaticServer({ '/': join(tmp, 'site') });
  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on('pageerror', (error) => console.error('[page error]', error));
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await hub?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the app: FLUX.1 from Hugging Face', () => {
  it('pick a source → sizes and licence before any request → check → confirm → progress → generate', async () => {
    await page.goto(`${server.origin}/index.html`);
    await page.selectOption('#model', '__hub__');
    await expect.poll(() => page.locator('#hub-import').isVisible()).toBe(true);

    // The published sources: both sizes and the licence, before anything is fetched.
    expect(await page.locator('#hub-source-official').isChecked()).toBe(true);
    expect(await text('#hub-sizes')).toBe('≈ 33.7 GB to download · ≈ 12.5 GB stored in this browser');
    expect(await text('#hub-licenses')).toContain('Apache License 2.0 (black-forest-labs/FLUX.1-schnell)');
    await page.check('#hub-source-gguf');
    await expect.poll(() => text('#hub-sizes')).toBe('≈ 12.1 GB to download · ≈ 14.8 GB stored in this browser');
    expect(await text('#hub-licenses')).toContain('city96/t5-v1_1-xxl-encoder-gguf');
    // FLUX.1 [dev]: its non-commercial licence and the gate, before anything is fetched.
    await page.check('#hub-source-dev');
    await expect.poll(() => text('#hub-sizes')).toBe('≈ 33.7 GB to download · ≈ 12.5 GB stored in this browser');
    expect(await text('#hub-licenses')).toContain('FLUX.1 [dev] Non-Commercial License (black-forest-labs/FLUX.1-dev)');
    expect(await text('#hub-licenses')).toContain('gated');

    // Any hf: reference (here on the fake Hub, chosen under "Hub address").
    await page.check('#hub-source-custom');
    await page.locator('#hub-import details summary').click();
    await page.fill('#hub-url', hub.hubUrl);
    await page.fill('#hub-from', `hf:${TINY.repo}`);
    await page.selectOption('#hub-weights', 'fp32'); // SwiftShader has no shader-f16 (the float16 embedding Gather of q4/q8/fp16 text encoders needs it)
    await page.locator('#hub-from').dispatchEvent('change');
    expect(await text('#hub-sizes')).toMatch(/read from the Hub when you press/);
    expect(hub.requests, 'nothing is fetched before the visitor presses a button').toEqual([]);

    await page.click('#hub-check');
    await expect.poll(() => text('#hub-sizes'), { timeout: 60_000 }).toMatch(/^[\d.]+ (KB|MB) to download · [\d.]+ MB stored in this browser$/);
    expect(await text('#hub-licenses')).toContain('apache-2.0 (test-org/tiny-flux-demo)');
    expect(hub.requests.some((r) => r.path === `/api/models/${TINY.repo}`)).toBe(true);
    expect(tensorRequests(hub.requests), 'checking reads headers, not tensors').toEqual([]);

    // Confirm: the import runs with progress, then the generator uses the imported model.
    await page.evaluate(() => {
      const w = window as unknown as { statusLog: string[]; fileLog: string[] };
      w.statusLog = [];
      w.fileLog = [];
      const status = document.getElementById('hub-status')!;
      new MutationObserver(() => {
        w.statusLog.push(status.textContent ?? '');
        w.fileLog.push(...[...document.querySelectorAll('#hub-files li')].map((li) => li.textContent ?? ''));
      }).observe(status, { childList: true, characterData: true, subtree: true });
    });
    await page.click('#hub-import-start');
    await expect.poll(() => text('#hub-status'), { timeout: 120_000 }).toMatch(/^Imported: [\d.]+ MB stored/);
    const { statusLog, fileLog } = await page.evaluate(() => {
      const w = window as unknown as { statusLog: string[]; fileLog: string[] };
      return { statusLog: w.statusLog, fileLog: w.fileLog };
    });
    console.log('import statuses:', JSON.stringify([...new Set(statusLog)].slice(0, 6)), '…', statusLog.length);
    expect(statusLog.some((t) => /^Downloading and converting the model \(once\) · [\d.]+ (B|KB|MB) of [\d.]+ (KB|MB) · part \d+ of \d+/.test(t))).toBe(true);
    expect(fileLog.some((t) => /^test-org\/tiny-flux-demo\/vae\/diffusion_pytorch_model\.safetensors: [\d.]+ (B|KB|MB) of [\d.]+ (KB|MB)$/.test(t))).toBe(true);
    expect(await text('#model-hint')).toContain('imported from Hugging Face');
    await expect.poll(() => page.locator('#hub-use').isVisible()).toBe(true);
    expect(await text('#hub-state')).toMatch(/^Stored in this browser \([\d.]+ MB\)\.$/);
    await expect.poll(() => page.locator('#stored-models').textContent()).toMatch(/FLUX\.1-schnell|tiny-flux-demo/);

    // Generate with it.
    const before = hub.requests.length;
    await widget().locator('textarea').fill('a lighthouse on a cliff at dusk');
    await widget().locator('#width').fill('256');
    await widget().locator('#height').fill('256');
    await widget().locator('#steps').selectOption('1');
    await widget().locator('#seed').fill('5');
    await widget().locator('button.generate').click();
    await page.locator('#gallery-list li.gallery-item').first().waitFor({ timeout: 240_000 });
    expect(await widget().locator('.result').textContent()).toContain('Seed 5 · 256×256 · 1 step');
    expect(hub.requests.slice(before), 'generating fetches nothing from the Hub').toEqual([]);

    // After a reload the choice is kept, and the model is still there.
    await page.reload();
    expect(await page.locator('#model').inputValue()).toBe('__hub__');
    await expect.poll(() => text('#hub-state')).toMatch(/^Stored in this browser/);
  }, 420_000);
});
