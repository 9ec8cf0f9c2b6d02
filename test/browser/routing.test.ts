/**
 * Routing and the compatible facades in a real headless Chromium: hosted providers
 * called from the page through CORS (fake provider servers on 127.0.0.1), a package too
 * big for this adapter routed to the provider in prefer-local and refused in local-only,
 * and code written for BFL's and OpenAI's APIs running unchanged against the local engine.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/package/manifest.ts';
import { writeDemoModel } from '../../tools/demo/demo-model.ts';
import { startFakeProvider, type FakeProvider } from '../support/fake-providers.ts';
import { launchBrowser, startStaticServer, type StaticServer } from './harness.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const PROMPT = 'a paper boat on a puddle';
let tmp: string;
let server: StaticServer;
let browser: Browser;
let page: Page;
let corsProvider: FakeProvider;
let plainProvider: FakeProvider;

type Call = { ok: boolean; error?: { name: string; message: string; status?: number; body?: any; missing?: string[]; instanceOf: Record<string, boolean> }; [key: string]: any };
const call = (fn: string, ...args: unknown[]): Promise<Call> =>
  page.evaluate(([f, a]) => (window as any).routingTest[f as string](...(a as unknown[])), [fn, args] as const);
const bflConfig = (fake: FakeProvider) => ({ kind: 'bfl', apiKey: 'page-key-789', baseUrl: fake.baseUrl, pollIntervalMs: 50 });
const weightRequests = (model: string) => server.requests.filter((r) => r.url.startsWith(`/models/${model}/`) && r.url.endsWith('.onnx_data'));

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flux-routing-'));
  await build({ configFile: join(ROOT, 'vite.lib.config.ts'), root: ROOT, logLevel: 'warn', build: { outDir: join(tmp, 'lib'), emptyOutDir: true } });
  await writeDemoModel({ out: join(tmp, 'demo') });
  // The same package, but its manifest asks for a 1 TiB buffer: no adapter has that.
  cpSync(join(tmp, 'demo'), join(tmp, 'toobig'), { recursive: true });
  const manifest = JSON.parse(readFileSync(join(tmp, 'toobig', 'manifest.json'), 'utf8')) as Manifest;
  manifest.requirements.largestWeightBufferBytes = 2 ** 40;
  writeFileSync(join(tmp, 'toobig', 'manifest.json'), JSON.stringify(manifest));
  server = await startStaticServer({ '/': join(ROOT, 'test/browser/pages'), '/lib/': join(tmp, 'lib'), '/models/demo/': join(tmp, 'demo'), '/models/toobig/': join(tmp, 'toobig') });
  corsProvider = await startFakeProvider('bfl', { cors: true, pendingPolls: 1, expectKey: 'page-key-789' });
  plainProvider = await startFakeProvider('bfl', { cors: false });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (error) => console.error('[page error]', error));
  await page.goto(`${server.origin}/routing.html`);
  await page.waitForFunction(() => 'routingTestReady' in window, null, { timeout: 30_000 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await corsProvider?.close();
  await plainProvider?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('hosted providers from the page', () => {
  it('generates through a provider that sends CORS headers, the key only in its header', async () => {
    await call('create', 'remote', { privacy: 'remote-only', providers: [bflConfig(corsProvider)] });
    const result = await call('generate', 'remote', { prompt: PROMPT, width: 512, height: 384, seed: 11 });
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ ok: true, backend: 'bfl', width: 512, height: 384, seed: 11 });
    expect(result.image).toMatchObject({ type: 'image/png', width: 512, height: 384 });
    expect(corsProvider.phase('submit')[0].headers['x-key']).toBe('page-key-789');
    for (const request of corsProvider.requests) expect(request.url).not.toContain('page-key-789');
  });

  it('explains a provider that sends no CORS headers instead of failing obscurely', async () => {
    await call('create', 'nocors', { privacy: 'remote-only', providers: [{ kind: 'bfl', apiKey: 'k', baseUrl: plainProvider.baseUrl }] });
    const result = await call('generate', 'nocors', { prompt: PROMPT, width: 512, height: 512 });
    expect(result.ok).toBe(false);
    expect(result.error!.instanceOf.ProviderCorsError).toBe(true);
    expect(result.error!.message).toMatch(/CORS|proxy|baseUrl/i);
  });
});

describe('routing by privacy mode', () => {
  it('prefer-local sends the prompt to the provider when the device cannot run the model, and says why', async () => {
    const before = corsProvider.requests.length;
    await call('create', 'prefer', { model: '/models/toobig/', privacy: 'prefer-local', providers: [bflConfig(corsProvider)] });
    const route = await call('route', 'prefer');
    expect(route.decision).toMatchObject({ backend: 'bfl', onDevice: false });
    expect(route.decision.reason).toMatch(/cannot run the model locally.*buffer/i);
    const result = await call('generate', 'prefer', { prompt: PROMPT, width: 256, height: 256 });
    expect(result).toMatchObject({ ok: true, backend: 'bfl' });
    expect(result.backendReason).toMatch(/sent to/);
    expect(corsProvider.requests.length).toBeGreaterThan(before);
    expect(weightRequests('toobig')).toHaveLength(0);
  });

  it('local-only refuses with the reason and sends nothing to any provider', async () => {
    const before = corsProvider.requests.length;
    await call('create', 'localonly', { model: '/models/toobig/', privacy: 'local-only', providers: [bflConfig(corsProvider)] });
    const route = await call('route', 'localonly');
    expect(route.ok).toBe(false);
    const result = await call('generate', 'localonly', { prompt: PROMPT, width: 256, height: 256 });
    expect(result.ok).toBe(false);
    expect(result.error!.instanceOf.DeviceCapabilityError).toBe(true);
    expect(result.error!.message).toMatch(/cannot run the model locally.*Local-only mode sends nothing/);
    expect(result.error!.missing).toContain('maxBufferSize');
    expect(corsProvider.requests.length).toBe(before);
    expect(weightRequests('toobig')).toHaveLength(0);
  });

  it('prefer-local runs on this device when it can, and the provider hears nothing', async () => {
    const before = corsProvider.requests.length;
    await call('create', 'fits', { model: '/models/demo/', privacy: 'prefer-local', providers: [bflConfig(corsProvider)], allowAnySize: true });
    expect((await call('route', 'fits')).decision).toMatchObject({ backend: 'local', onDevice: true });
    const result = await call('generate', 'fits', { prompt: PROMPT, width: 64, height: 64, steps: 1, seed: 2 });
    expect(result).toMatchObject({ ok: true, backend: 'local', seed: 2 });
    expect(corsProvider.requests.length).toBe(before);
    for (const request of server.requests) expect(decodeURIComponent(request.url) + request.body).not.toContain(PROMPT);
  });
});

describe('BFL- and OpenAI-shaped facades over the local engine (demo model)', () => {
  it('runs code written for BFL: submit, poll get_result until Ready, fetch the sample', async () => {
    // allowAnySize lets the OpenAI test below use a tiny size; BFL's own 256–1440 rule still applies to BFL requests.
    await call('create', 'facade', { model: '/models/demo/', privacy: 'local-only', allowAnySize: true });
    const result = await call('bfl', 'facade', PROMPT);
    expect(result.error).toBeUndefined();
    expect(result.value).toMatchObject({ status: 'Ready', seed: 7, prompt: PROMPT, image: { type: 'image/png', width: 256, height: 256 } });
    expect(result.value.polling_url).toContain(result.value.id);
    expect((await call('bflResult', 'facade', 'no-such-task')).status).toBe('Task not found');
  }, 120_000);

  it("answers invalid BFL requests with BFL's 422 detail shape", async () => {
    const small = await call('bflSubmit', 'facade', 'flux-dev', { prompt: PROMPT, width: 100, height: 256 });
    expect(small.error).toMatchObject({ status: 422, body: { detail: [{ loc: ['body', 'width'], type: 'greater_than_equal' }] } });
    const missing = await call('bflSubmit', 'facade', 'flux-dev', { width: 256, height: 256 });
    expect(missing.error!.body.detail[0]).toMatchObject({ loc: ['body', 'prompt'], msg: 'Field required', type: 'missing' });
    const steps = await call('bflSubmit', 'facade', 'flux-dev', { prompt: PROMPT, steps: 60 });
    expect(steps.error!.body.detail[0].loc).toEqual(['body', 'steps']);
  });

  it('runs a [pro] BFL body on the local model with warnings, and says what an OpenAI request had no effect on here', async () => {
    const submitted = await call('bflSubmit', 'facade', 'flux-pro', { prompt: PROMPT, width: 256, height: 256, steps: 1, seed: 3, interval: 2, safety_tolerance: 3, output_format: 'png' });
    expect(submitted.error).toBeUndefined();
    expect(submitted.value.warnings).toEqual([
      "flux-pro is BFL's hosted model; this request ran on the local model (FLUX.1 [schnell]) instead",
      'safety_tolerance 3 accepted but not applied locally: no moderation runs on this device',
      'interval 2 accepted but not applied locally: interval is a FLUX.1 [pro] feature',
    ]);
    let result;
    for (let i = 0; i < 600; i++) {
      result = await call('bflResult', 'facade', submitted.value.id);
      if (result.status !== 'Pending') break;
      await new Promise((done) => setTimeout(done, 100));
    }
    expect(result).toMatchObject({ status: 'Ready', result: { seed: 3 }, details: { warnings: expect.arrayContaining([expect.stringMatching(/^flux-pro is BFL's hosted model/)]) } });

    const openai = await call('openaiRaw', 'facade', { prompt: PROMPT, size: '64x64', steps: undefined, cfg_scale: 4, style: 'vivid', n: 1, response_format: 'b64_json' });
    expect(openai.error).toBeUndefined();
    expect(openai.value.data).toHaveLength(1);
    expect(openai.value.warnings).toEqual([
      'cfg_scale 4 not applied: the local model FLUX.1 [schnell] is not guidance-distilled',
      'style ignored on this device (passed only to hosted providers)',
    ]);
  }, 120_000);

  it('runs code written for the OpenAI images API (b64_json)', async () => {
    // OpenAI's API has no steps field, so this runs schnell's default 4 steps: a tiny size keeps SwiftShader quick.
    const result = await call('openai', 'facade', PROMPT, '64x64');
    expect(result.error).toBeUndefined();
    expect(result.value).toMatchObject({ count: 1, image: { width: 64, height: 64 } });
    expect(Math.abs(result.value.created - Date.now() / 1000)).toBeLessThan(600);
  }, 120_000);

  it("answers invalid OpenAI requests with OpenAI's error shape", async () => {
    const size = await call('openaiRaw', 'facade', { prompt: PROMPT, size: '100x100' });
    expect(size.error).toMatchObject({ status: 400, body: { error: { type: 'invalid_request_error', param: 'size' } } });
    const n = await call('openaiRaw', 'facade', { prompt: PROMPT, n: 9 });
    expect(n.error!.body.error.param).toBe('n');
  });
});
