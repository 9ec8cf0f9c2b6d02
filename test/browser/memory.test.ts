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
const REQUEST = { prompt: 'a lighthouse on a cliff at dusk, oil painting', width: 64, height: 64, steps: 2, seed: 77 };
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
    expect(memory).toMatchObject({ width: 64, height: 64, plan: 'resident' });
    needs = { resident: memory.plans.resident.neededBytes, staged: memory.plans.staged.neededBytes, streaming: memory.plans.streaming.neededBytes };
    expect(needs.resident).toBeGreaterThan(needs.staged);
    expect(needs.staged).toBeGreaterThan(needs.streaming);
    // Unlimited by a failure: the probe stopped at the largest working set.
    expect(memory.availableAtLeast).toBe(true);
    expect(memory.availableBytes).toBeGreaterThanOrEqual(needs.resident);
    expect(memory.reason).toMatch(/^resident: .*needed, at least .* available/);
  }, 120_000);

  it('runs resident when everything fits, and counts its GPU bytes', async () => {
    const run = await generate('free', { ...REQUEST, memory: undefined });
    expect(run.error).toBeUndefined();
    expect(run.result!.memoryPlan).toBe('resident');
    expectPeakMatchesPrediction(run.result, 'resident');
    residentImage = run.result!.images[0].bytes;
  }, 300_000);
});
