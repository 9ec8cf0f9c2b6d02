/**
 * The app page (index.html), built and served statically, in headless Chromium (WebGPU on
 * SwiftShader), with the demo model:
 * - generate with live previews and progress; reload; the gallery (IndexedDB) still has
 *   the image and its metadata; "Generate again" with its seed gives the same pixels and
 *   downloads no weight file; delete;
 * - keyboard only: every control reachable with Tab and operable with Enter/Space, with a
 *   visible focus ring; screenshots at phone and desktop widths;
 * - a browser without WebGPU: the plain explanation and the provider choice, then a
 *   generation through a (fake) Black Forest Labs provider, with its key kept in this browser;
 * - the Content-Security-Policy holds: no violation, and an injected inline script is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/package/manifest.ts';
import { writeDemoModel } from '../../tools/demo/demo-model.ts';
import { startFakeProvider, type FakeProvider } from '../support/fake-providers.ts';
import { launchBrowser, startStaticServer, type StaticServer } from './harness.ts';
import { buildSite, deepFocus, pngPixels, screenshot, watchCsp, type CspViolation } from './pages/widget-ui-support.ts';

interface StepRecord {
  stage: string;
  step?: number;
  text: string;
  fraction: number | null;
  canvas?: string;
  canvasVisible?: boolean;
  rendering?: string;
  bar?: number | null;
}

let tmp: string;
let server: StaticServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let csp: { violations: CspViolation[]; consoleErrors: string[] };
let manifest: Manifest;
let bfl: FakeProvider;

const widget = () => page.locator('#generator');
const galleryItems = () => page.locator('#gallery-list li.gallery-item');
const packageRequestsSince = (index: number) => server.requests.slice(index).filter((r) => r.url.startsWith('/models/demo/')).map((r) => r.url);

/** Records, for every progress event of the widget, the status text, the bar and the preview canvas. */
async function recordProgress(p: Page): Promise<void> {
  await p.evaluate(() => {
    const w = window as unknown as { progressLog: unknown[] };
    w.progressLog = [];
    const host = document.getElementById('generator')!;
    host.addEventListener('progress', (event) => {
      const d = (event as unknown as CustomEvent).detail;
      const root = host.shadowRoot!;
      const canvas = root.querySelector('canvas[part="preview"]') as HTMLCanvasElement;
      const bar = root.querySelector('progress') as HTMLProgressElement;
      w.progressLog.push({
        stage: d.stage,
        step: d.step,
        text: root.querySelector('.status')!.textContent,
        fraction: d.fraction,
        canvas: d.stage === 'denoise' ? canvas.toDataURL() : undefined,
        canvasVisible: !canvas.hidden && canvas.getBoundingClientRect().width > 100,
        rendering: getComputedStyle(canvas).imageRendering,
        bar: bar.hasAttribute('value') ? bar.value : null,
      });
    });
  });
}

/** The PNG bytes of a gallery entry, read from the gallery's IndexedDB (a fetch of its blob: URL would break the CSP). */
async function galleryImageBytes(item: Locator): Promise<Uint8Array> {
  const id = await item.getAttribute('data-id');
  const bytes = await item.page().evaluate(async (key) => {
    const db = await new Promise<IDBDatabase>((done, fail) => {
      const open = indexedDB.open('flux-webgpu-gallery');
      open.onsuccess = () => done(open.result);
      open.onerror = () => fail(open.error);
    });
    const entry = await new Promise<{ image: Blob }>((done, fail) => {
      const get = db.transaction('images').objectStore('images').get(key!);
      get.onsuccess = () => done(get.result);
      get.onerror = () => fail(get.error);
    });
    db.close();
    return Array.from(new Uint8Array(await entry.image.arrayBuffer()));
  }, id);
  return Uint8Array.from(bytes);
}

async function waitForRoute(p: Page, where: string): Promise<void> {
  await p.locator(`#generator .privacy[data-where="${where}"]`).waitFor({ timeout: 60_000 });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flux-app-'));
  // The fake providers listen on 127.0.0.1 ports: the deployer's way to allow an origin.
  await buildSite(join(tmp, 'site'), 'http://127.0.0.1:*');
  manifest = await writeDemoModel({ out: join(tmp, 'demo') });
  server = await startStaticServer({ '/': join(tmp, 'site'), '/models/demo/': join(tmp, 'demo') });
  bfl = await startFakeProvider('bfl', { cors: true, expectKey: 'bfl-test-key-123', pendingPolls: 1 });
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.origin });
  page = await context.newPage();
  page.on('pageerror', (error) => console.error('[page error]', error));
  csp = await watchCsp(page);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await bfl?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the app page', () => {
  it('generates with per-step previews and progress; after a reload the gallery has it; the same seed gives the same pixels without downloading weights; delete', async () => {
    await page.goto(`${server.origin}/index.html`);
    await waitForRoute(page, 'local');
    expect(await widget().locator('.privacy').textContent()).toContain('Runs on this device');
    await recordProgress(page);

    await widget().locator('textarea').fill('a lighthouse on a cliff at dusk');
    await widget().locator('#width').fill('64');
    await widget().locator('#height').fill('64');
    await widget().locator('#steps').selectOption('2');
    await widget().locator('#seed').fill('777');
    await widget().locator('button.generate').click();
    await galleryItems().first().waitFor({ timeout: 90_000 });

    const log = await page.evaluate(() => (window as unknown as { progressLog: StepRecord[] }).progressLog);
    const texts = log.map((e) => e.text);
    console.log('progress texts:', JSON.stringify([...new Set(texts)]));
    expect(texts.some((t) => /^Downloading the model \(once\) · [\d.]+ (B|KB|MB) of 1\.\d MB/.test(t))).toBe(true);
    expect(texts.some((t) => /^Loading the model onto the GPU · part \d+ of \d+/.test(t))).toBe(true);
    const denoise = log.filter((e) => e.stage === 'denoise');
    expect(denoise.map((e) => e.step)).toEqual([1, 2]);
    expect(denoise[0].text).toMatch(/^Denoising · step 1 of 2 · (about \d+ s left|almost done)$/);
    expect(denoise[0].bar).toBeCloseTo(0.5);
    // A live preview after each step, scaled up pixelated, and it changes between steps.
    expect(denoise.every((e) => e.canvasVisible && e.rendering === 'pixelated' && e.canvas!.startsWith('data:image/png'))).toBe(true);
    expect(denoise[1].canvas).not.toBe(denoise[0].canvas);
    // After: where it ran, and the result.
    expect(await widget().locator('.privacy').textContent()).toContain('Made on this device');
    expect(await widget().locator('.result').textContent()).toContain('Seed 777 · 64×64 · 2 steps');
    await expect.poll(() => page.locator('#stored-models tr').first().textContent()).toMatch(/Demo.*1\.\d MB/);

    // Reload: the gallery lives in IndexedDB.
    const mark = server.requests.length;
    await page.reload();
    await waitForRoute(page, 'local');
    await expect.poll(() => galleryItems().count()).toBe(1);
    const item = galleryItems().first();
    expect(await item.locator('.prompt').textContent()).toBe('a lighthouse on a cliff at dusk');
    const meta = Object.fromEntries(await item.locator('dd').evaluateAll((dds) => dds.map((d) => [d.getAttribute('data-field'), d.textContent])));
    expect(meta).toMatchObject({ seed: '777', size: '64×64', steps: '2', made: 'on this device' });
    expect(meta.took).toMatch(/^\d+\.\d s$/);
    expect(await item.locator('a[download]').getAttribute('download')).toBe('flux-777.png');
    const firstBytes = await galleryImageBytes(item);

    // Generate again with this seed: a second entry with the same pixels.
    await item.locator('button.regenerate').click();
    await expect.poll(() => galleryItems().count(), { timeout: 90_000 }).toBe(2);
    expect(await widget().locator('#seed').inputValue()).toBe('777');
    const second = pngPixels(await galleryImageBytes(galleryItems().first()));
    expect(second.width).toBe(64);
    expect(second.data).toEqual(pngPixels(firstBytes).data);
    // After the reload nothing but the manifest was fetched: the weights came from IndexedDB.
    expect(packageRequestsSince(mark).filter((u) => u !== '/models/demo/manifest.json')).toEqual([]);
    expect(manifest.files.length).toBeGreaterThan(5);

    // Delete both.
    await galleryItems().first().locator('button.delete').click();
    await expect.poll(() => galleryItems().count()).toBe(1);
    await galleryItems().first().locator('button.delete').click();
    await expect.poll(() => galleryItems().count()).toBe(0);
    expect(await page.locator('#gallery-list').textContent()).toContain('Nothing yet');
    // Deleted from IndexedDB too (not just from the page).
    expect(await page.evaluate(() => new Promise<number>((done, fail) => {
      const open = indexedDB.open('flux-webgpu-gallery');
      open.onerror = () => fail(open.error);
      open.onsuccess = () => {
        const count = open.result.transaction('images').objectStore('images').count();
        count.onsuccess = () => {
          done(count.result);
          open.result.close();
        };
      };
    }))).toBe(0);
  }, 150_000);

  it('works with the keyboard alone: every control reachable and operable, focus always visible', async () => {
    // The same page (its worker is warm). Start keyboard navigation from the top, as after a
    // page load: focus the document body, so the next Tab goes to the first control.
    await page.evaluate(() => {
      window.scrollTo(0, 0);
      document.body.tabIndex = -1;
      document.body.focus();
      document.body.removeAttribute('tabindex');
    });
    // Walk the whole page with Tab.
    const seen: NonNullable<Awaited<ReturnType<typeof deepFocus>>>[] = [];
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press('Tab');
      const focus = await deepFocus(page);
      if (!focus) break;
      if (seen.length && focus.path === seen[0].path) break;
      seen.push(focus);
    }
    const order = seen.map((f) => f.path);
    console.log('tab order:', order.join(' | '));
    const expected = [
      'skip-link',
      'model', 'privacy-mode',
      'generator > prompt', 'generator > width', 'generator > height', 'generator > steps', 'generator > seed', 'generator > format', 'generator > generate-button',
      'provider-kind', 'provider-key', 'provider-base-url', 'provider-model', 'provider-save',
    ];
    const positions = expected.map((e) => order.indexOf(e));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions); // in reading order
    for (const focus of seen) {
      expect(focus.visible, focus.path).toBe(true);
      expect(focus.focusVisible, focus.path).toBe(true);
      expect(focus.outline, focus.path).toMatch(/^solid 3px/);
      expect(focus.label, focus.path).not.toBe('');
    }

    // Operate: back to the prompt (Shift+Tab from the start of the provider form), type, set the size.
    while ((await deepFocus(page))?.path !== 'generator > prompt') await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('a quiet harbour at night');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('64');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('64');
    await page.keyboard.press('Tab');
    await page.keyboard.type('1'); // steps: type-ahead selects "1"
    expect(await widget().locator('#steps').inputValue()).toBe('1');
    await page.keyboard.press('Tab');
    await page.keyboard.type('31337');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect((await deepFocus(page))?.path).toBe('generator > generate-button');
    // Enter starts; focus moves to Cancel; Space cancels.
    await page.keyboard.press('Enter');
    expect((await deepFocus(page))?.path).toBe('generator > cancel-button');
    await page.keyboard.press('Space');
    await widget().locator('.error:not([hidden])').waitFor();
    expect(await widget().locator('.error').textContent()).toContain('Cancelled.');
    expect((await deepFocus(page))?.path).toBe('generator > generate-button');
    // Space on Generate: the image arrives in the widget and the gallery.
    await page.keyboard.press('Space');
    await galleryItems().first().waitFor({ timeout: 90_000 });
    expect(await galleryItems().first().getAttribute('data-seed')).toBe('31337');

    // Into the gallery: Download link, then Copy seed with Space.
    const focusOn = async (path: string) => {
      for (let i = 0; i < 30 && (await deepFocus(page))?.path !== path; i++) await page.keyboard.press('Tab');
      expect((await deepFocus(page))?.path).toBe(path);
    };
    await focusOn('generator > download');
    await page.keyboard.press('Tab');
    expect((await deepFocus(page))?.label).toMatch(/^Download: “a quiet harbour at night”, seed 31337$/);
    await page.keyboard.press('Tab');
    expect((await deepFocus(page))?.label).toMatch(/^Copy the seed/);
    await page.keyboard.press('Space');
    await expect.poll(() => page.locator('#announcer').textContent()).toBe('Seed 31337 copied.');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('31337');
    await page.keyboard.press('Tab');
    expect((await deepFocus(page))?.label).toMatch(/^Generate again with this seed/);
    await page.keyboard.press('Tab');
    expect((await deepFocus(page))?.label).toMatch(/^Delete/);
    // Screenshots before deleting (a gallery entry shows), at phone and desktop widths.
    await page.setViewportSize({ width: 1280, height: 900 });
    await screenshot(page, 'app-desktop-1280x900');
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const phoneLayout = await widget().evaluate((host) => {
      const root = host.shadowRoot!;
      const form = root.querySelector('form')!.getBoundingClientRect();
      const frame = root.querySelector('.frame')!.getBoundingClientRect();
      return { stacked: frame.top >= form.bottom - 1, formWidth: form.width };
    });
    expect(phoneLayout.stacked).toBe(true);
    expect(phoneLayout.formWidth).toBeGreaterThan(300);
    await screenshot(page, 'app-phone-390x844');
    await screenshot(page, 'app-phone-390x844-viewport', { fullPage: false });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.keyboard.press('Enter');
    await expect.poll(() => galleryItems().count()).toBe(0);
    expect((await deepFocus(page))?.tag).toBe('h2');

    // The storage manager: delete the stored model with the keyboard.
    for (let i = 0; i < 30 && !/^Delete the stored model/.test((await deepFocus(page))?.label ?? ''); i++) await page.keyboard.press('Tab');
    expect((await deepFocus(page))?.label).toBe('Delete the stored model Demo (tiny, random weights)');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#stored-models').textContent()).toBe('No model stored yet.');
  }, 150_000);

  it('lists FLUX.1 [dev] q4 with its non-commercial licence, shown on choosing it, before anything is downloaded', async () => {
    const before = server.requests.length;
    const option = page.locator('#model option', { hasText: 'FLUX.1 [dev] q4' });
    expect(await option.textContent()).toBe('FLUX.1 [dev] q4 (non-commercial licence)');
    await page.locator('#model').selectOption({ label: 'FLUX.1 [dev] q4 (non-commercial licence)' });
    const license = page.locator('#model-license');
    await expect.poll(() => license.textContent()).toMatch(/^Licence: FLUX\.1 \[dev\] Non-Commercial License: .*non-commercial purposes only.*Read the licence$/);
    expect(await license.locator('a').getAttribute('href')).toBe('https://huggingface.co/black-forest-labs/FLUX.1-dev/blob/main/LICENSE.md');
    // The hint is the select's description, so screen readers hear the licence too.
    expect(await page.locator('#model').getAttribute('aria-describedby')).toBe('model-hint');
    // Choosing it fetched at most the package's manifest, no weights.
    const fetched = server.requests.slice(before).map((r) => r.url).filter((u) => u.includes('flux1-dev-q4'));
    expect(fetched.every((u) => u.endsWith('/models/flux1-dev-q4/manifest.json'))).toBe(true);
    await page.locator('#model').selectOption({ label: 'Demo (tiny, random weights)' });
    expect(await page.locator('#model-license').textContent()).toMatch(/^Licence: Apache-2\.0\./);
  }, 60_000);
});

describe('a browser without WebGPU', () => {
  it('says so plainly, offers the providers, and generates through one with the key kept in this browser', async () => {
    const noGpu = await launchBrowser({ webgpu: false });
    try {
      const other = await noGpu.newPage({ viewport: { width: 1280, height: 900 } });
      const otherCsp = await watchCsp(other);
      await other.goto(`${server.origin}/index.html`);
      // Chromium keeps navigator.gpu with WebGPU disabled; it just has no adapter.
      expect(await other.evaluate(async () => !(navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu || (await (navigator as unknown as { gpu: { requestAdapter(): Promise<unknown> } }).gpu.requestAdapter()) === null)).toBe(true);
      const banner = other.locator('#no-webgpu');
      await banner.waitFor();
      expect(await banner.textContent()).toContain('This browser has no WebGPU, so the model cannot run on this device.');
      await other.locator('#generator .privacy[data-where="none"]').waitFor({ timeout: 30_000 });
      expect(await other.locator('#generator .notice').isVisible()).toBe(true);
      await screenshot(other, 'app-no-webgpu');

      // The provider choice, by keyboard from the banner.
      await other.locator('#no-webgpu-providers').focus();
      await other.keyboard.press('Enter');
      expect(await other.evaluate(() => document.activeElement?.id)).toBe('provider-kind');
      // Replicate without a proxy: explained, not saved.
      await other.locator('#provider-kind').selectOption('replicate');
      expect(await other.locator('#provider-cors').textContent()).toMatch(/cannot be called from a web page.*CORS.*proxy/);
      await other.locator('#provider-key').fill('r8_secret');
      await other.locator('#provider-save').click();
      expect(await other.locator('#provider-error').textContent()).toMatch(/no CORS headers/);
      expect(await other.locator('#provider-list .provider-item').count()).toBe(0);
      // Black Forest Labs (the fake) with a key.
      await other.locator('#provider-kind').selectOption('bfl');
      await other.locator('#provider-key').fill('bfl-test-key-123');
      await other.locator('#provider-base-url').fill(bfl.baseUrl);
      await other.locator('#provider-save').click();
      await other.locator('#provider-list .provider-item').waitFor();
      expect(await other.locator('#provider-key').inputValue()).toBe('');
      expect(await other.locator('#provider-list').textContent()).not.toContain('bfl-test-key-123');
      // Privacy is local-only: the page says so and offers to allow the provider.
      await other.locator('#allow-provider').click();
      expect(await other.locator('#privacy-mode').inputValue()).toBe('prefer-local');
      await waitForRoute(other, 'remote');
      expect(await other.locator('#generator .privacy').textContent()).toContain('Sent to Black Forest Labs');

      await other.locator('#generator textarea').fill('a paper boat on a pond');
      await other.locator('#generator #width').fill('256');
      await other.locator('#generator #height').fill('256');
      await other.locator('#generator button.generate').click();
      await other.locator('#gallery-list li.gallery-item').first().waitFor({ timeout: 30_000 });
      expect(await other.locator('#generator .privacy').textContent()).toContain('Made by Black Forest Labs');
      expect(await other.locator('#gallery-list dd[data-field="made"]').textContent()).toBe('by Black Forest Labs');
      await screenshot(other, 'app-no-webgpu-provider');

      // The key went only in the x-key header, never in a URL; it is kept in this browser.
      const submit = bfl.phase('submit');
      expect(submit).toHaveLength(1);
      expect(submit[0].headers['x-key']).toBe('bfl-test-key-123');
      expect((submit[0].body as { prompt: string }).prompt).toBe('a paper boat on a pond');
      expect(bfl.requests.every((r) => !r.url.includes('bfl-test-key-123'))).toBe(true);
      expect(server.requests.every((r) => !r.url.includes('bfl-test-key-123') && !r.body.includes('bfl-test-key-123'))).toBe(true);
      expect(await other.evaluate(() => localStorage.getItem('flux-webgpu:providers'))).toContain('bfl-test-key-123');
      expect(otherCsp.violations).toEqual([]);
      expect(otherCsp.consoleErrors).toEqual([]);
    } finally {
      await noGpu.close();
    }
  }, 90_000);
});

describe('Content-Security-Policy', () => {
  it('is in force: the built pages carry it, nothing violated it, and an injected inline script is refused', async () => {
    const policy = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
    expect(policy).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(policy).toContain("style-src 'self';");
    expect(policy).toMatch(/connect-src 'self' .*http:\/\/127\.0\.0\.1:\*/);
    expect(policy).not.toContain('unsafe-inline');
    expect(csp.violations).toEqual([]);
    expect(csp.consoleErrors).toEqual([]);
    const ran = await page.evaluate(async () => {
      const script = document.createElement('script');
      script.textContent = 'window.__inlineRan = true;';
      document.body.append(script);
      const style = document.createElement('style');
      style.textContent = 'body { background: red !important; }';
      document.head.append(style);
      await new Promise((done) => setTimeout(done, 100));
      return { script: (window as unknown as { __inlineRan?: boolean }).__inlineRan === true, style: getComputedStyle(document.body).backgroundColor };
    });
    expect(ran.script).toBe(false);
    expect(ran.style).not.toBe('rgb(255, 0, 0)');
    expect(csp.violations.map((v) => v.directive).sort()).toEqual(['script-src-elem', 'style-src-elem']);
  });
});
