/**
 * Memory plans end to end in a real headless Chromium (WebGPU on SwiftShader), through
 * the built library and its worker: the per-plan GPU budget of `checkDevice`, the plan
 * `auto` picks when the allocation probe is capped (the engine's `gpuMemoryCap` test
 * hook makes SwiftShader look like a small GPU), identical pixels under every plan,
 * counted GPU bytes against the prediction, the prompt-embedding cache, the typed error
 * (and no weight request) in local-only mode, the provider in prefer-local mode, and the
 * fallback to a lighter plan after an out-of-memory failure.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDemoModel } from '../../tools/demo/demo-model.ts';
import { startFakeProvider, type FakeProvider } from '../support/fake-providers.ts';
import { launchBrowser, startStaticServer, type StaticServer } from './harness.ts';

const ROOT = resolve(import.meta.dirname, '../..');
// Small and one step: every plan's work is the same graphs, so the size does not change what is checked.
const REQUEST = { prompt: 'a lighthouse on a cliff at dusk, oil painting', width: 32, height: 32, steps: 1, seed: 77 };
/**
 * How close the prediction must be to the counted peak: the counted peak never exceeds
 * it, and it is at most this much above (the estimates are calibrated, not exact, and
 * small models carry fixed per-graph costs).
 */
const PREDICTION_SLACK = 0.35;

type Plan = 'resident' | 'staged' | 'streaming';
interface PlanNeed { neededBytes: number; weightBytes: number; activationBytes: number; fits: boolean }
interface MemoryReport { width: number; height: number; availableBytes: number; availableAtLeast: boolean; plans: Record<Plan, PlanNeed>; plan: Plan | null; reason: string }
interface PageResult {
  ok: boolean;
  result?: { images: { type: string; bytes: number[] }[]; memoryPlan: Plan; memoryPlanReason: string; gpuPeakBytes: number; gpuStages: { stage: string; peakBytes: number; liveBytes: number }[]; backend: string; backendReason: string; warnings: string[] };
  error?: { name: string; message: string; instanceOf: Record<string, boolean>; fields: Record<string, unknown> };
}
type Event = { label?: string; stage: string; plan?: Plan; reason?: string };

let tmp: string;
let server: StaticServer;
let browser: Browser;
let page: Page;
let provider: FakeProvider;
let needs: Record<Plan, number>;
let residentImage: number[];

const pageCall = <T>(fn: string, ...args: unknown[]): Promise<T> =>
  page.evaluate(([f, a]) => (window as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>).fluxTest[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;
const generate = (key: string, params: Record<string, unknown>, label = key) => pageCall<PageResult>('generate', key, params, { label });
const events = async (label: string) => (await pageCall<Event[]>('events')).filter((e) => e.label === label);
/** Requests for a package's files other than its manifest (weights, graphs, tokenizers). */
const fileRequests = (model: string) => server.requests.filter((r) => r.url.startsWith(`/models/${model}/`) && !r.url.endsWith('/manifest.json'));

function expectPeakMatchesPrediction(result: PageResult['result'], plan: Plan): void {
  const predicted = needs[plan];
  console.log(`${plan}: predicted ${predicted} B, counted peak ${result!.gpuPeakBytes} B (${(result!.gpuPeakBytes / predicted).toFixed(2)}), stages ${JSON.stringify(result!.gpuStages)}`);
  expect(result!.gpuPeakBytes).toBeGreaterThan(0);
  expect(result!.gpuPeakBytes).toBeLessThanOrEqual(predicted);
  expect(result!.gpuPeakBytes).toBeGreaterThanOrEqual(predicted * (1 - PREDICTION_SLACK));
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flux-memory-'));
  await build({ configFile: join(ROOT, 'vite.lib.config.ts'), root: ROOT, logLevel: 'warn', build: { outDir: join(tmp, 'lib'), emptyOutDir: true } });
  await writeDemoModel({ out: join(tmp, 'demo') });
  // Never downloaded by any test: its request log shows whether a refusal came before any download.
  cpSync(join(tmp, 'demo'), join(tmp, 'untouched'), { recursive: true });
  server = await startStaticServer({ '/': join(ROOT, 'test/browser/pages'), '/lib/': join(tmp, 'lib'), '/models/demo/': join(tmp, 'demo'), '/models/untouched/': join(tmp, 'untouched') });
  provider = await startFakeProvider('bfl', { cors: true, pendingPolls: 1 });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (error) => console.error('[page error]', error));
  await page.goto(`${server.origin}/engine.html`);
  await page.waitForFunction(() => 'fluxTestReady' in window, null, { timeout: 30_000 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await provider?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('memory plans on the demo package', () => {
  it('checkDevice reports the GPU bytes of every plan at the size, and what the device gave', async () => {
    await pageCall('create', 'free', { model: '/models/demo/', allowAnySize: true });
    const report = await pageCall<{ ok: boolean; value: { ok: boolean; memory: MemoryReport } }>('call', 'free', 'checkDevice', { width: REQUEST.width, height: REQUEST.height });
    expect(report.ok).toBe(true);
    const memory = report.value.memory;
    console.log('checkDevice memory:', JSON.stringify(memory));
    expect(memory).toMatchObject({ width: REQUEST.width, height: REQUEST.height, plan: 'resident' });
    needs = { resident: memory.plans.resident.neededBytes, staged: memory.plans.staged.neededBytes, streaming: memory.plans.streaming.neededBytes };
    expect(needs.resident).toBeGreaterThan(needs.staged);
    expect(needs.staged).toBeGreaterThan(needs.streaming);
    // Not stopped by a refusal: the probe went up to the largest working set and no further.
    expect(memory.availableAtLeast).toBe(true);
    expect(memory.availableBytes).toBeGreaterThanOrEqual(needs.resident);
    expect(memory.availableBytes).toBeLessThan(needs.resident + 64 * 2 ** 20);
    expect(memory.reason).toMatch(/^resident: .*needed, at least .* available/);
  }, 120_000);

  it('runs resident when everything fits, and counts its GPU bytes; "generate again" skips the text encoders', async () => {
    const run = await generate('free', REQUEST);
    expect(run.error).toBeUndefined();
    expect(run.result!.memoryPlan).toBe('resident');
    expectPeakMatchesPrediction(run.result, 'resident');
    residentImage = run.result!.images[0].bytes;
    const plans = (await events('free')).filter((e) => e.stage === 'plan');
    expect(plans).toEqual([expect.objectContaining({ plan: 'resident', reason: run.result!.memoryPlanReason })]);

    // Another seed for the same prompt: its embeddings come from the cache, no text encoder runs.
    const again = await generate('free', { ...REQUEST, seed: REQUEST.seed + 1 }, 'free-again');
    expect(again.error).toBeUndefined();
    expect(again.result!.gpuStages.map((s) => s.stage)).toEqual(['transformer', 'vae']);
    expect((await events('free-again')).map((e) => e.stage)).not.toContain('encode');
    expect(again.result!.images[0].bytes).not.toEqual(residentImage);
  }, 300_000);

  it('auto picks staged when the GPU has less than resident needs: same pixels, each stage released', async () => {
    const cap = Math.round((needs.staged + needs.resident) / 2);
    await pageCall('create', 'staged', { model: '/models/demo/', allowAnySize: true, engine: { gpuMemoryCap: { probeBytes: cap } } });
    const run = await generate('staged', REQUEST);
    expect(run.error).toBeUndefined();
    expect(run.result!.memoryPlan).toBe('staged');
    expect(run.result!.memoryPlanReason).toMatch(/^staged: .* needed, .* available \(resident needs .*\)$/);
    expect(run.result!.images[0].bytes).toEqual(residentImage);
    expectPeakMatchesPrediction(run.result, 'staged');
    // Each stage's sessions were released before the next stage loaded: nothing stayed on the GPU.
    expect(run.result!.gpuStages.map((s) => s.stage)).toEqual(['text', 'transformer', 'vae']);
    for (const stage of run.result!.gpuStages) expect(stage.liveBytes, stage.stage).toBe(0);
    expect((await events('staged')).find((e) => e.stage === 'plan')).toMatchObject({ plan: 'staged' });
  }, 300_000);

  it('auto picks streaming on a still smaller GPU: same pixels, one graph at a time', async () => {
    const cap = Math.round((needs.streaming + needs.staged) / 2);
    await pageCall('create', 'streaming', { model: '/models/demo/', allowAnySize: true, engine: { gpuMemoryCap: { probeBytes: cap } } });
    const run = await generate('streaming', REQUEST);
    expect(run.error).toBeUndefined();
    expect(run.result!.memoryPlan).toBe('streaming');
    expect(run.result!.images[0].bytes).toEqual(residentImage);
    expectPeakMatchesPrediction(run.result, 'streaming');
    expect(run.result!.gpuPeakBytes).toBeLessThanOrEqual(cap);
  }, 300_000);
});

describe('too little GPU memory for any plan', () => {
  const tiny = () => ({ model: '/models/untouched/', allowAnySize: true, engine: { gpuMemoryCap: { probeBytes: Math.round(needs.streaming / 2) } } });

  it('local-only: a DeviceCapabilityError with the numbers, and not one package file requested', async () => {
    await pageCall('create', 'local-only', { ...tiny(), privacy: 'local-only' });
    const report = await pageCall<{ value: { ok: boolean; shortfalls: { capability: string }[]; memory: MemoryReport } }>('call', 'local-only', 'checkDevice', { width: 64, height: 64 });
    expect(report.value.ok).toBe(false);
    expect(report.value.memory.plan).toBeNull();
    expect(report.value.shortfalls.map((s) => s.capability)).toEqual(['gpu-memory']);
    const run = await generate('local-only', REQUEST);
    expect(run.ok).toBe(false);
    expect(run.error).toMatchObject({ name: 'DeviceCapabilityError', instanceOf: { DeviceCapabilityError: true } });
    expect(run.error!.fields).toMatchObject({ missing: ['gpu-memory'], neededBytes: needs.streaming, availableBytes: Math.round(needs.streaming / 2) });
    expect(run.error!.message).toMatch(/no memory plan fits: even streaming needs .* the GPU gave/);
    expect(fileRequests('untouched')).toEqual([]);
  }, 120_000);

  it('prefer-local: the provider runs it, and the reason gives the numbers', async () => {
    const before = provider.requests.length;
    await pageCall('create', 'prefer-local', { ...tiny(), privacy: 'prefer-local', providers: [{ kind: 'bfl', apiKey: 'k', baseUrl: provider.baseUrl, pollIntervalMs: 50 }] });
    const run = await generate('prefer-local', { ...REQUEST, width: 256, height: 256 });
    expect(run.error).toBeUndefined();
    expect(run.result!.backend).toBe('bfl');
    expect(run.result!.backendReason).toMatch(/gpu-memory: no memory plan fits: even streaming needs .* the GPU gave .*sent to/);
    expect(provider.requests.length).toBeGreaterThan(before);
    expect(fileRequests('untouched')).toEqual([]);
  }, 120_000);
});

describe('out of GPU memory while running', () => {
  it('falls back to a lighter plan with the same pixels, and the next request works', async () => {
    // The probe sees plenty, but allocations beyond the cap fail: resident (forced) runs out,
    // staged (whose counted peak is below its prediction, checked above) fits.
    const cap = needs.staged;
    await pageCall('create', 'oom', { model: '/models/demo/', allowAnySize: true, memory: 'resident', engine: { gpuMemoryCap: { allocationBytes: cap } } });
    const run = await generate('oom', REQUEST);
    expect(run.error).toBeUndefined();
    expect(run.result!.memoryPlan).toBe('staged');
    expect(run.result!.memoryPlanReason).toMatch(/^staged: .* needed; resident ran out of GPU memory/);
    expect(run.result!.images[0].bytes).toEqual(residentImage);
    expect((await events('oom')).filter((e) => e.stage === 'plan').map((e) => e.plan)).toEqual(['resident', 'staged']);
    // The next request runs on the fresh worker (its prompt is cached there now, so resident may fit).
    const next = await generate('oom', { ...REQUEST, seed: REQUEST.seed + 1 }, 'oom-next');
    expect(next.error).toBeUndefined();
    expect(next.result!.images).toHaveLength(1);
    expect(next.result!.memoryPlanReason.startsWith(`${next.result!.memoryPlan}: `)).toBe(true);
  }, 300_000);

  it('prefer-local hands the request to the provider when even the lightest plan runs out', async () => {
    await pageCall('create', 'oom-remote', {
      model: '/models/demo/', allowAnySize: true, memory: 'streaming', privacy: 'prefer-local',
      providers: [{ kind: 'bfl', apiKey: 'k', baseUrl: provider.baseUrl, pollIntervalMs: 50 }],
      engine: { gpuMemoryCap: { allocationBytes: Math.round(needs.streaming / 3) } },
    });
    const run = await generate('oom-remote', { ...REQUEST, width: 256, height: 256 });
    expect(run.error).toBeUndefined();
    expect(run.result!.backend).toBe('bfl');
    expect(run.result!.backendReason).toMatch(/could not run this request locally .*streaming ran out of GPU memory/);
  }, 300_000);
});
