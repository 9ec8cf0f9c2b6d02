/**
 * The embeddable widget, built (`vite build` → widget.js, embed.html) and served from a
 * sub-path (/static/flux-webgpu/) of a static server, in headless Chromium (WebGPU on
 * SwiftShader):
 * - a host page with hostile global CSS and its own strict CSP holds two
 *   `<flux-generator>` elements: both render properly, both generate with the demo
 *   model, they share one worker and one download, and fire progress/image/error events;
 * - `generate(params)` returns the library's result;
 * - the iframe embed (embed.html?model=…) generates under its own CSP;
 * - no CSP violation anywhere; an injected inline script is refused.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/package/manifest.ts';
import { convertCheckpoint } from '../../tools/convert/convert-local.ts';
import { writeDemoModel } from '../../tools/demo/demo-model.ts';
import { TINY_FLUX_DEV_A } from '../support/golden.ts';
import { launchBrowser, startStaticServer, type StaticServer } from './harness.ts';
import { buildSite, pngPixels, ROOT, screenshot, watchCsp, type CspViolation } from './pages/widget-ui-support.ts';

interface RecordedEvent {
  widget: string;
  type: string;
  stage?: string;
  step?: number;
  steps?: number;
  text?: string;
  preview?: { width: number; height: number };
  name?: string;
  summary?: string;
  message?: string;
  seed?: number;
  backend?: string;
  onDevice?: boolean;
  isCustomEvent: boolean;
  bubbles: boolean;
}

let tmp: string;
let server: StaticServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let csp: { violations: CspViolation[]; consoleErrors: string[] };
let manifest: Manifest;

const events = () => page.evaluate(() => (window as unknown as { widgetEvents: RecordedEvent[] }).widgetEvents);
const weightRequests = () => server.requests.filter((r) => r.url.startsWith('/models/demo/') && r.url !== '/models/demo/manifest.json');

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flux-widget-'));
  await buildSite(join(tmp, 'site'));
  manifest = await writeDemoModel({ out: join(tmp, 'demo') });
  // A guidance-distilled ([dev]) package: the form offers its steps and a guidance field.
  await convertCheckpoint({ checkpoint: TINY_FLUX_DEV_A, out: join(tmp, 'dev'), weights: 'fp32' });
  server = await startStaticServer({
    '/static/flux-webgpu/': join(tmp, 'site'),
    '/pages/': join(ROOT, 'test/browser/pages'),
    '/models/demo/': join(tmp, 'demo'),
    '/models/dev/': join(tmp, 'dev'),
  });
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (error) => console.error('[page error]', error));
  csp = await watchCsp(page);
  await page.goto(`${server.origin}/pages/widget-host.html`);
  // Both widgets have asked where they will run (the device check reads only the manifest).
  await page.waitForFunction(() => [...document.querySelectorAll('flux-generator')].every((w) => w.shadowRoot?.querySelector('.privacy')?.getAttribute('data-where') === 'local'), null, { timeout: 60_000 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the build', () => {
  it('emits dist/widget.js under a stable name with relative imports, and embed.html', async () => {
    const { readFileSync, existsSync } = await import('node:fs');
    const widget = readFileSync(join(tmp, 'site/widget.js'), 'utf8');
    expect(widget).toMatch(/from"\.\/assets\/[\w-]+\.js"/);
    expect(widget).not.toMatch(/from"\//);
    expect(existsSync(join(tmp, 'site/embed.html'))).toBe(true);
    // Served from a sub-path: the worker and the wasm were found beside the module.
    const urls = server.requests.map((r) => r.url);
    expect(urls).toContain('/static/flux-webgpu/widget.js');
    expect(urls.some((u) => /^\/static\/flux-webgpu\/assets\/generator\.worker-[\w-]+\.js$/.test(u))).toBe(true);
  });
});

describe('two widgets on a page with hostile CSS', () => {
  it('render properly: controls visible, sized and styled by the widget, not the page', async () => {
    // The hostile CSS is in force on the page itself.
    expect(await page.locator('#host-button').evaluate((b) => getComputedStyle(b).display)).toBe('none');
    expect(await page.locator('h1').evaluate((h) => getComputedStyle(h).fontSize)).toBe('40px');
    for (const id of ['a', 'b']) {
      const checks = await page.locator(`#${id}`).evaluate((host) => {
        const root = host.shadowRoot!;
        const box = (selector: string) => {
          const el = root.querySelector(selector) as HTMLElement;
          const r = el.getBoundingClientRect();
          const s = getComputedStyle(el);
          return { w: r.width, h: r.height, display: s.display, visibility: s.visibility, fontSize: s.fontSize, textTransform: s.textTransform, letterSpacing: s.letterSpacing };
        };
        return {
          host: { display: getComputedStyle(host).display, width: host.getBoundingClientRect().width },
          prompt: box('textarea'),
          generate: box('button.generate'),
          width: box('#width'),
          privacy: box('.privacy'),
          frame: box('.frame'),
          styleElements: root.querySelectorAll('style').length,
          adopted: root.adoptedStyleSheets.length,
        };
      });
      expect(checks.host.display).toBe('block');
      expect(checks.host.width).toBeGreaterThan(300);
      for (const control of [checks.prompt, checks.generate, checks.width, checks.privacy]) {
        expect(control.display).not.toBe('none');
        expect(control.visibility).toBe('visible');
        expect(control.w).toBeGreaterThan(40);
        expect(control.h).toBeGreaterThan(20);
        expect(control.h).toBeLessThan(200);
      }
      expect(parseFloat(checks.generate.fontSize)).toBeLessThan(20);
      expect(checks.generate.textTransform).toBe('none');
      expect(checks.frame.w).toBeGreaterThan(200);
      // Styles come from a constructable stylesheet, not a <style> element (CSP).
      expect(checks.styleElements).toBe(0);
      expect(checks.adopted).toBe(1);
    }
    // Themable: custom properties and ::part from the host page reach widget b only.
    const theme = await page.evaluate(() => {
      const button = (id: string) => getComputedStyle(document.getElementById(id)!.shadowRoot!.querySelector('button.generate')!);
      return { a: button('a').backgroundColor, b: button('b').backgroundColor, bRadius: button('b').borderTopLeftRadius, aRadius: button('a').borderTopLeftRadius };
    });
    expect(theme.b).toBe('rgb(10, 125, 79)');
    expect(theme.a).not.toBe(theme.b);
    expect(theme.bRadius).toBe('999px');
    expect(theme.aRadius).not.toBe('999px');
    await screenshot(page, 'widget-host-hostile-css');
  });

  it('both generate with the demo model, sharing one worker and one download, with progress, preview and image events', async () => {
    const before = server.requests.length;
    await page.locator('#a textarea').fill('a lighthouse at dusk');
    await page.locator('#b textarea').fill('a red fox in the snow');
    // Both at once: the shared engine queues them.
    await page.locator('#a button.generate').click();
    await page.locator('#b button.generate').click();
    await page.waitForFunction(() => (window as unknown as { widgetEvents: { type: string }[] }).widgetEvents.filter((e) => e.type === 'image').length === 2, null, { timeout: 90_000 });

    const all = await events();
    for (const id of ['a', 'b']) {
      const mine = all.filter((e) => e.widget === id);
      const image = mine.find((e) => e.type === 'image')!;
      expect(image).toMatchObject({ backend: 'local', seed: id === 'a' ? 11 : 22, isCustomEvent: true });
      const denoise = mine.filter((e) => e.type === 'progress' && e.stage === 'denoise');
      expect(denoise.map((e) => e.step)).toEqual([1, 2]);
      expect(denoise.every((e) => e.preview && e.preview.width === 8 && e.preview.height === 8)).toBe(true);
      expect(denoise[0].text).toMatch(/step 1 of 2/);
      expect(mine.some((e) => e.type === 'progress' && e.stage === 'done')).toBe(true);
      // The widget shows the image and where it was made.
      const shown = await page.locator(`#${id}`).evaluate((host) => {
        const root = host.shadowRoot!;
        const img = root.querySelector('img[part="image"]') as HTMLImageElement;
        return { hidden: img.hidden, src: img.src, natural: img.naturalWidth, privacy: root.querySelector('.privacy')!.textContent, result: root.querySelector('.result')!.textContent };
      });
      expect(shown.hidden).toBe(false);
      expect(shown.src).toMatch(/^blob:/);
      expect(shown.natural).toBe(64);
      expect(shown.privacy).toContain('Made on this device');
      expect(shown.result).toContain(`Seed ${id === 'a' ? 11 : 22}`);
    }
    // One of the two downloaded the model; the other found it loaded.
    expect(all.filter((e) => e.type === 'progress' && e.stage === 'download').length).toBeGreaterThan(0);
    expect(new Set(all.filter((e) => e.type === 'progress' && e.stage === 'download').map((e) => e.widget)).size).toBe(1);

    // One worker for both widgets.
    const generatorWorkers = page.workers().filter((w) => /generator\.worker/.test(w.url()));
    expect(generatorWorkers).toHaveLength(1);
    // A string, evaluated as is (the test's own dynamic imports are rewritten by vitest).
    const stats = await page.evaluate("import('/static/flux-webgpu/widget.js').then((m) => m.sharedGeneratorStats())");
    expect(stats).toMatchObject({ workers: 1, generators: 1 });

    // One download: every weight file fetched exactly once.
    const fetched = server.requests.slice(before).filter((r) => r.url.startsWith('/models/demo/') && r.url !== '/models/demo/manifest.json').map((r) => r.url);
    const expected = manifest.files.map((f) => `/models/demo/${f.path}`).sort();
    expect([...fetched].sort()).toEqual(expected);
    expect(fetched.filter((u) => u.endsWith('.onnx_data')).length).toBe(manifest.files.filter((f) => f.path.endsWith('.onnx_data')).length);
    await screenshot(page, 'widget-host-generated');
  }, 120_000);

  it('generate(params) resolves with the library result, and the same seed gives the same pixels', async () => {
    const run = (seed: number) => page.locator('#b').evaluate(async (host, s) => {
      const result = await (host as unknown as { generate(p: unknown): Promise<{ images: Blob[]; seed: number; width: number; height: number; steps: number; backend: string; backendReason: string; timings: Record<string, number>; warnings: string[] }> }).generate({ prompt: 'a tiny harbour', width: 64, height: 64, steps: 1, seed: s });
      return { ...result, images: await Promise.all(result.images.map(async (b) => ({ type: b.type, bytes: Array.from(new Uint8Array(await b.arrayBuffer())) }))) };
    }, seed);
    const first = await run(4242);
    expect(first).toMatchObject({ seed: 4242, width: 64, height: 64, steps: 1, backend: 'local', warnings: [] });
    expect(first.backendReason).toMatch(/this device/i);
    expect(Object.keys(first.timings).sort()).toEqual(['decodeMs', 'denoiseMs', 'encodeMs', 'loadMs', 'totalMs']);
    expect(first.images).toHaveLength(1);
    expect(first.images[0].type).toBe('image/png');
    const again = await run(4242);
    expect(pngPixels(Uint8Array.from(again.images[0].bytes)).data).toEqual(pngPixels(Uint8Array.from(first.images[0].bytes)).data);
  }, 60_000);

  it('counts the prompt\'s tokens while the user types and shows the words the encoders will not see', async () => {
    const counter = (id: string) => page.locator(`#${id}`).evaluate((host) => {
      const el = host.shadowRoot!.querySelector('[part="token-count"]') as HTMLElement;
      return { hidden: el.hidden, text: el.textContent ?? '', over: el.dataset.over ?? '', dropped: [...el.querySelectorAll('.dropped')].map((d) => d.textContent) };
    });
    const waitFor = (id: string, pattern: RegExp) => page.waitForFunction(
      ([i, source]) => new RegExp(source).test(document.getElementById(i)!.shadowRoot!.querySelector('[part="token-count"]')!.textContent ?? ''),
      [id, pattern.source] as const, { timeout: 30_000 });
    await page.locator('#a textarea').fill('a photo of a cat');
    await waitFor('a', /^T5: \d+ \/ 256 tokens; CLIP: \d+ \/ 77 tokens$/);
    const short = await counter('a');
    expect(short).toMatchObject({ hidden: false, over: '', dropped: [] });
    // 40 × 5 words: more than CLIP's 75 text tokens, less than T5's 255.
    const long = [...Array(40).fill('a photo of a cat'), 'lighthouse'].join(' ');
    await page.locator('#a textarea').fill(long);
    await waitFor('a', /CLIP: 77 \/ 77 tokens \(\d+ needed\), keeps the first \d+ of 201 words/);
    const shown = await counter('a');
    expect(shown.over).toBe('clip');
    expect(shown.dropped).toHaveLength(1);
    expect(shown.dropped[0]).toMatch(/^CLIP will not see: “(a |photo |of |cat )*lighthouse”$/);
    // The same numbers as the library's countTokens, through the element's generator.
    const count = await page.locator('#a').evaluate((host, text) => (host as unknown as { generator: { countTokens(p: string): Promise<{ clip: { tokens: number; keptWords: number }; t5: { tokens: number; maxTokens: number } }> } }).generator.countTokens(text), long);
    expect(shown.text).toContain(`T5: ${count.t5.tokens} / ${count.t5.maxTokens} tokens; CLIP: 77 / 77 tokens (${count.clip.tokens} needed), keeps the first ${count.clip.keptWords} of 201 words`);
    await page.locator('#a textarea').fill('');
    await page.waitForFunction(() => (document.getElementById('a')!.shadowRoot!.querySelector('[part="token-count"]') as HTMLElement).hidden, null, { timeout: 10_000 });
  }, 60_000);

  it('fires error events with a friendly message, and keeps working afterwards', async () => {
    const outcome = await page.locator('#a').evaluate(async (host) => {
      try {
        await (host as unknown as { generate(p: unknown): Promise<unknown> }).generate({ prompt: 'x', width: 17 });
        return { rejected: false };
      } catch (error) {
        const root = host.shadowRoot!;
        return { rejected: true, name: (error as Error).name, shown: root.querySelector('.error')!.textContent, invalid: root.querySelector('#width')!.getAttribute('aria-invalid') };
      }
    });
    expect(outcome).toMatchObject({ rejected: true, name: 'InvalidParameterError', invalid: 'true' });
    expect(outcome.shown).toMatch(/The width must be a multiple of 16 from 16 to 2048\./);
    await page.locator('#a textarea').fill('   ');
    await page.locator('#a button.generate').click();
    await page.waitForFunction(() => (window as unknown as { widgetEvents: { type: string }[] }).widgetEvents.filter((e) => e.type === 'error').length >= 2);
    const errors = (await events()).filter((e) => e.type === 'error');
    expect(errors.map((e) => e.name)).toEqual(['InvalidParameterError', 'InvalidParameterError']);
    expect(errors[1].summary).toMatch(/The prompt must be text of 1 to 10000 characters/);
    expect(errors[1].message).toMatch(/Change it and try again/);
    expect(errors.every((e) => e.isCustomEvent && !e.bubbles)).toBe(true);

    // An API key in an attribute is refused (it would be readable in the page source).
    const refused = await page.evaluate(async () => {
      const element = document.createElement('flux-generator');
      element.setAttribute('model', '/models/demo/');
      element.setAttribute('providers', JSON.stringify([{ kind: 'bfl', apiKey: 'leaked-key' }]));
      const seen = new Promise<string>((done) => element.addEventListener('error', (e) => done((e as unknown as CustomEvent).detail.error.message), { once: true }));
      document.body.append(element);
      const message = await seen;
      const shown = element.shadowRoot!.querySelector('.error')!.textContent!;
      element.remove();
      return { message, shown };
    });
    expect(refused.message).toMatch(/free of API keys/);
    expect(refused.shown).toMatch(/provider settings/);
    expect(refused.message + refused.shown).not.toContain('leaked-key');
  });

  it('refuses the same bad request as the library and the CLI: same class, field and reason', async () => {
    // Bad under every size rule (the widgets allow any size; the CLI's provider path takes the web range).
    const cases: { params: Record<string, unknown>; cli: string[] }[] = [
      { params: { width: 17 }, cli: ['--width', '17'] },
      { params: { height: 4096 }, cli: ['--height', '4096'] },
      { params: { steps: 0 }, cli: ['--steps', '0'] },
      { params: { seed: -1 }, cli: ['--seed=-1'] },
      { params: { numImages: 9 }, cli: ['--num-images', '9'] },
      { params: { prompt: '   ' }, cli: [] },
      { params: { outputFormat: 'gif' }, cli: [] },
    ];
    const flagOf: Record<string, string> = { width: '--width', height: '--height', steps: '--steps', seed: '--seed', numImages: '--num-images', prompt: '--prompt', outputFormat: '--out' };
    for (const { params, cli } of cases) {
      const [field] = Object.keys(params);
      const request = { prompt: 'a fox', width: 64, height: 64, ...params };
      const seen = (await page.evaluate(
        `(async () => {
          const { createGenerator } = await import('/static/flux-webgpu/widget.js');
          const info = (e) => ({ name: e.name, field: e.field, reason: e.reason });
          const request = ${JSON.stringify(request)};
          let library;
          try { await createGenerator({ model: '/models/demo/', allowAnySize: true }).generate(request); } catch (e) { library = info(e); }
          const host = document.getElementById('a');
          let widget;
          const event = new Promise((done) => host.addEventListener('error', (e) => done(info(e.detail.error)), { once: true }));
          try { await host.generate(request); } catch (e) { widget = info(e); }
          return { library, widget, event: await event };
        })()`,
      )) as Record<'library' | 'widget' | 'event', { name: string; field: string; reason: string }>;
      const args = ['generate', '--provider', 'bfl', '--api-key', 'k', '--base-url', 'http://127.0.0.1:9', '--prompt', field === 'prompt' ? String(params.prompt) : 'a fox', ...cli, '--out', join(tmp, `same.${field === 'outputFormat' ? params.outputFormat : 'png'}`)];
      const fromCli = await new Promise<{ code: number; stderr: string }>((done) => {
        execFile('node', [join(ROOT, 'tools/flux-webgpu.mjs'), ...args], { cwd: ROOT }, (error, _stdout, stderr) => done({ code: (error as { code?: number } | null)?.code ?? 0, stderr }));
      });
      const code = /\((\w+): field (\S+), reason ([\w-]+)\)/.exec(fromCli.stderr);
      expect(seen.library, JSON.stringify(params)).toMatchObject({ name: 'InvalidParameterError', field });
      expect(seen.widget).toEqual(seen.library);
      expect(seen.event).toEqual(seen.library);
      expect(fromCli.code, fromCli.stderr).toBe(2);
      expect(code?.slice(1)).toEqual([seen.library.name, flagOf[field], seen.library.reason]);
    }
  }, 120_000);

  it('answers randomized bad input at its attributes, methods and properties with typed errors naming the field', async () => {
    const result = (await page.evaluate(`(async () => {
      const { runWidgetBad } = await import('/pages/bad-inputs.js');
      const lib = await import('/static/flux-webgpu/widget.js');
      return runWidgetBad(document, 31337, 120, lib);
    })()`)) as { outcomes: Record<string, number>; failures: string[]; reached: number };
    console.log(`bad-input (widget): ${JSON.stringify(result.outcomes)}`);
    expect(result.failures).toEqual([]);
    expect(result.outcomes.typed).toBe(120);
    expect(result.reached).toBe(0);
  }, 120_000);

  it('respects prefers-reduced-motion', async () => {
    await page.emulateMedia({ reducedMotion: 'reduce' });
    const duration = await page.locator('#a').evaluate((host) => getComputedStyle(host.shadowRoot!.querySelector('button.generate')!).transitionDuration);
    expect(duration).toBe('0s');
    await page.emulateMedia({ reducedMotion: 'no-preference' });
    expect(await page.locator('#a').evaluate((host) => getComputedStyle(host.shadowRoot!.querySelector('button.generate')!).transitionDuration)).not.toBe('0s');
  });
});

describe('the iframe embed', () => {
  it('generates in embed.html?model=… under its CSP, with the weights already stored', async () => {
    const before = server.requests.length;
    const embedPage = await context.newPage();
    const embedCsp = await watchCsp(embedPage);
    try {
      await embedPage.goto(`${server.origin}/pages/widget-iframe.html`);
      const frame = embedPage.frameLocator('#embed');
      await expectVisible(frame.locator('flux-generator .privacy[data-where="local"]'));
      expect(await frame.locator('flux-generator textarea').inputValue()).toBe('a harbour at night');
      await frame.locator('flux-generator button.generate').click();
      await frame.locator('flux-generator img[part="image"]:not([hidden])').waitFor({ timeout: 60_000 });
      expect(await frame.locator('flux-generator .result').textContent()).toContain('Seed 5');
      // Same origin as the widgets' page: the weights were stored already.
      expect(server.requests.slice(before).filter((r) => r.url.startsWith('/models/demo/') && r.url !== '/models/demo/manifest.json')).toEqual([]);
      await screenshot(embedPage, 'widget-iframe-embed');
      expect(embedCsp.violations).toEqual([]);
      expect(embedCsp.consoleErrors).toEqual([]);
    } finally {
      await embedPage.close();
    }
  }, 90_000);
});

describe('a shared worker that dies', () => {
  it("rejects both widgets' pending generations with WorkerCrashedError, and both work again on one fresh worker", async () => {
    const other = await context.newPage();
    try {
      // The page's generator workers start with the test hooks on (so the test can make one close itself).
      await other.addInitScript(() => {
        const Original = window.Worker;
        const started: Worker[] = [];
        (window as unknown as { generatorWorkers: Worker[] }).generatorWorkers = started;
        window.Worker = class extends Original {
          constructor(url: string | URL, options: WorkerOptions = {}) {
            const generator = options.name === 'flux-webgpu-generator';
            super(url, generator ? { ...options, name: 'flux-webgpu-test-hooks' } : options);
            if (generator) started.push(this);
          }
        } as typeof Worker;
      });
      await other.goto(`${server.origin}/pages/widget-host.html`);
      await other.waitForFunction(() => [...document.querySelectorAll('flux-generator')].every((w) => w.shadowRoot?.querySelector('.privacy')?.getAttribute('data-where') === 'local'), null, { timeout: 60_000 });
      const run = () =>
        other.evaluate(async () => {
          const [a, b] = ['a', 'b'].map((id) => document.getElementById(id) as unknown as HTMLElement & { generate(p: unknown): Promise<{ seed: number }> });
          const workers = (window as unknown as { generatorWorkers: Worker[] }).generatorWorkers;
          const crash = (window as unknown as { crashOnEncode?: boolean }).crashOnEncode;
          let crashed = false;
          const onProgress = (event: Event) => {
            if (crash && !crashed && (event as CustomEvent).detail.stage === 'encode') {
              crashed = true;
              workers.at(-1)!.postMessage({ 'flux-webgpu-test-hook': 'close' });
            }
          };
          a.addEventListener('progress', onProgress);
          const settled = await Promise.allSettled([a.generate({ prompt: 'a fox', steps: 1 }), b.generate({ prompt: 'a cat', steps: 1 })]);
          a.removeEventListener('progress', onProgress);
          return {
            outcomes: settled.map((s) => (s.status === 'fulfilled' ? { ok: true, seed: s.value.seed } : { ok: false, name: (s.reason as Error).name, reason: (s.reason as { reason?: string }).reason })),
            workers: workers.length,
          };
        });
      await other.evaluate(() => void ((window as unknown as { crashOnEncode: boolean }).crashOnEncode = true));
      const crashed = await run();
      expect(crashed.outcomes).toEqual([
        { ok: false, name: 'WorkerCrashedError', reason: 'exited' },
        { ok: false, name: 'WorkerCrashedError', reason: 'exited' },
      ]);
      await other.evaluate(() => void ((window as unknown as { crashOnEncode: boolean }).crashOnEncode = false));
      const recovered = await run();
      expect(recovered.outcomes.map((o) => o.ok)).toEqual([true, true]);
      // One fresh worker for both widgets, started by the first call after the death.
      expect(recovered.workers).toBe(2);
      // A string, evaluated as is (the test's own dynamic imports are rewritten by vitest).
      expect(await other.evaluate("import('/static/flux-webgpu/widget.js').then((m) => m.sharedGeneratorStats())")).toMatchObject({ workers: 1, generators: 1 });
    } finally {
      await other.close();
    }
  }, 180_000);
});

describe('Content-Security-Policy', () => {
  it('had no violation on the host page, and refuses an injected inline script', async () => {
    expect(csp.violations).toEqual([]);
    expect(csp.consoleErrors).toEqual([]);
    const ran = await page.evaluate(async () => {
      const script = document.createElement('script');
      script.textContent = 'window.__inlineRan = true;';
      document.body.append(script);
      await new Promise((done) => setTimeout(done, 100));
      return (window as unknown as { __inlineRan?: boolean }).__inlineRan === true;
    });
    expect(ran).toBe(false);
    expect(csp.violations.map((v) => v.directive)).toEqual(['script-src-elem']);
    expect(weightRequests().length).toBe(manifest.files.length);
  });
});

describe('a FLUX.1 [dev] package', () => {
  it('offers its steps (28 by default) and a guidance field (3.5), from its manifest alone', async () => {
    const before = server.requests.length;
    const form = () => page.evaluate(() => {
      const root = document.getElementById('dev-widget')!.shadowRoot!;
      const guidance = root.querySelector('#guidance') as HTMLInputElement;
      const steps = root.querySelector('#steps') as HTMLSelectElement;
      return { guidanceShown: !(guidance.closest('.field') as HTMLElement).hidden, guidance: guidance.value, steps: steps.value, options: [...steps.options].map((o) => o.value) };
    });
    await page.evaluate(() => {
      const element = document.createElement('flux-generator');
      element.id = 'dev-widget';
      element.setAttribute('model', '/models/dev/');
      element.setAttribute('allow-any-size', '');
      document.body.append(element);
    });
    await page.waitForFunction(() => !(document.getElementById('dev-widget')!.shadowRoot!.querySelector('#guidance')!.closest('.field') as HTMLElement).hidden, null, { timeout: 60_000 });
    expect(await form()).toMatchObject({ guidanceShown: true, guidance: '3.5', steps: '28' });
    expect((await form()).options).toEqual(['8', '12', '16', '20', '24', '28', '32', '40', '50']);
    await page.evaluate(() => document.getElementById('dev-widget')!.setAttribute('guidance', '2'));
    await expect.poll(async () => (await form()).guidance).toBe('2');
    // setParams fills the guidance field too (the app's "Generate again" of a [dev] image); a wrong type is refused.
    const refused = await page.evaluate(() => {
      const element = document.getElementById('dev-widget') as HTMLElement & { setParams(p: Record<string, unknown>): void };
      element.setParams({ guidance: 4.5, steps: 20 });
      try {
        element.setParams({ guidance: '4' });
        return null;
      } catch (error) {
        return { name: (error as Error).name, field: (error as { field?: string }).field, reason: (error as { reason?: string }).reason };
      }
    });
    expect(await form()).toMatchObject({ guidance: '4.5', steps: '20' });
    expect(refused).toEqual({ name: 'InvalidParameterError', field: 'guidance', reason: 'wrong-type' });
    // A [schnell] widget shows no guidance field and offers 1–4 steps.
    const schnell = await page.locator('#a').evaluate((host) => ({
      shown: !(host.shadowRoot!.querySelector('#guidance')!.closest('.field') as HTMLElement).hidden,
      options: [...(host.shadowRoot!.querySelector('#steps') as HTMLSelectElement).options].map((o) => o.value),
    }));
    expect(schnell).toEqual({ shown: false, options: ['1', '2', '3', '4'] });
    // Only the manifest was read.
    const devRequests = server.requests.slice(before).filter((r) => r.url.startsWith('/models/dev/')).map((r) => r.url);
    expect(devRequests.every((u) => u === '/models/dev/manifest.json')).toBe(true);
    await page.evaluate(() => document.getElementById('dev-widget')!.remove());
  }, 90_000);
});

describe('reference counting', () => {
  it('stops the shared worker when the last widget leaves the page', async () => {
    const stats = () => page.evaluate("import('/static/flux-webgpu/widget.js').then((m) => m.sharedGeneratorStats())") as Promise<{ workers: number; generators: number }>;
    await page.evaluate(() => document.getElementById('a')!.remove());
    await page.waitForTimeout(1500);
    expect(await stats()).toMatchObject({ workers: 1, generators: 1 });
    await page.evaluate(() => document.getElementById('b')!.remove());
    await expect.poll(stats, { timeout: 10_000 }).toMatchObject({ workers: 0, generators: 0 });
    await expect.poll(() => page.workers().filter((w) => /generator\.worker/.test(w.url())).length, { timeout: 10_000 }).toBe(0);
  });
});

async function expectVisible(locator: ReturnType<Page['locator']>): Promise<void> {
  await locator.waitFor({ state: 'visible', timeout: 60_000 });
}
