/**
 * Page of the `full-scale` bench (tools/bench/full-scale.ts), bundled by Vite with the
 * library's sources. `window.fluxFullScale` takes and returns plain JSON for Playwright:
 *
 * - `download(url, files)`: `WeightStore.ensureFiles` on this page (the store the engine
 *   reads: same origin, same IndexedDB database);
 * - `runPlan(...)`: `createGenerator({ memory: plan, worker })` with the bench worker
 *   (full-scale-worker.ts: the engine plus GPU-buffer and wasm-memory counters), then
 *   `checkDevice()`, `load()` and one `generate()` from random prompt embeddings;
 * - `activation(spec)`: one graph in its own worker (activation-worker.ts).
 */
import * as Comlink from 'comlink';
import { createGenerator, type Generator, type GeneratorOptions } from '../../../src/index.ts';
import type { PackageFile } from '../../../src/package/manifest.ts';
import { torchRandn } from '../../../src/pipeline/randn.ts';
import { WeightStore } from '../../../src/store/weight-store.ts';
import type { ActivationResult, ActivationSpec, ActivationWorkerApi } from './activation-worker.ts';
import { FULL_SCALE_CHANNEL, type PageFullDownload, type PagePlanRun, type WorkerStats } from './full-scale-shared.ts';

const message = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));
const store = new WeightStore();

/** Asks the bench worker for its counters. */
function workerStats(): Promise<WorkerStats | undefined> {
  const channel = new BroadcastChannel(FULL_SCALE_CHANNEL);
  return new Promise((done) => {
    const timer = setTimeout(() => {
      channel.close();
      done(undefined);
    }, 5000);
    channel.onmessage = (event: MessageEvent<WorkerStats>) => {
      if (event.data?.type !== 'stats-reply') return;
      clearTimeout(timer);
      channel.close();
      done(event.data);
    };
    channel.postMessage({ type: 'stats' });
  });
}

/** A JSON-safe copy (Infinity and typed arrays become strings / arrays). */
function plain(value: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value, (_k, v) => (v === Infinity ? 'Infinity' : v instanceof Blob ? `[Blob ${v.size}]` : v)));
}

const api = {
  async download(packageUrl: string, files: PackageFile[]): Promise<PageFullDownload> {
    const t0 = performance.now();
    try {
      await store.ensureFiles(packageUrl, files);
      return { ok: true, ms: performance.now() - t0, bytes: files.reduce((s, f) => s + f.size, 0) };
    } catch (error) {
      return { ok: false, error: message(error), ms: performance.now() - t0, bytes: 0 };
    }
  },

  /**
   * One plan: checkDevice, load, then one image from `textTokens` random prompt-embedding
   * tokens (joint width `jointDim`, pooled width `pooledDim`).
   */
  async runPlan(args: { model: string; plan: string; width: number; height: number; steps: number; seed: number; textTokens: number; jointDim: number; pooledDim: number }): Promise<PagePlanRun> {
    const worker = new Worker(new URL('./full-scale-worker.ts', import.meta.url), { type: 'module', name: 'flux-webgpu-full-scale-generator' });
    const options = { model: args.model, allowAnySize: true, worker, memory: args.plan } as GeneratorOptions;
    let generator: Generator | undefined;
    const out: PagePlanRun = { ok: false };
    let stage: PagePlanRun['failedAt'] = 'check';
    try {
      generator = createGenerator(options);
      // The memory plans' per-plan GPU bytes at the size that runs.
      out.report = plain(await generator.checkDevice({ width: args.width, height: args.height }));
      stage = 'load';
      let t0 = performance.now();
      await generator.load();
      out.loadSeconds = (performance.now() - t0) / 1000;
      stage = 'generate';
      t0 = performance.now();
      const result = await generator.generate({
        promptEmbeddings: { promptEmbeds: torchRandn([1, args.textTokens, args.jointDim], args.seed), pooledPromptEmbeds: torchRandn([1, args.pooledDim], args.seed + 1) },
        width: args.width,
        height: args.height,
        steps: args.steps,
        seed: args.seed,
      });
      out.generateSeconds = (performance.now() - t0) / 1000;
      const { images, ...rest } = result;
      out.result = plain(rest);
      out.imageBytes = images[0]?.size;
      const bitmap = await createImageBitmap(images[0]);
      out.imageSize = [bitmap.width, bitmap.height];
      out.ok = true;
    } catch (error) {
      out.error = message(error);
      out.failedAt = stage;
    }
    out.stats = await workerStats();
    await generator?.dispose().catch(() => undefined);
    worker.terminate();
    return out;
  },

  async activation(spec: ActivationSpec): Promise<{ ok: boolean; error?: string; result?: ActivationResult }> {
    const worker = new Worker(new URL('./activation-worker.ts', import.meta.url), { type: 'module', name: 'flux-webgpu-activation' });
    try {
      const remote = Comlink.wrap<ActivationWorkerApi>(worker);
      return { ok: true, result: await remote.measure(spec) };
    } catch (error) {
      return { ok: false, error: message(error) };
    } finally {
      worker.terminate();
    }
  },

  estimate: async () => {
    const { quota = 0, usage = 0 } = await navigator.storage.estimate();
    return { quota, usage };
  },
};

declare global {
  interface Window {
    fluxFullScale: typeof api;
  }
}
window.fluxFullScale = api;
