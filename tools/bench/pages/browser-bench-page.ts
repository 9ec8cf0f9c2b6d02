/**
 * Page of the `browser` bench (tools/bench/browser-bench.ts), bundled by Vite with the
 * library's sources. Exposes `window.fluxBench`, whose functions take and return plain
 * JSON for Playwright:
 *
 * - `generate(...)`: `createGenerator()` as a site uses it, but with the bench's worker
 *   (`browser-timed-worker.ts`, passed through the public `worker` option) so that every
 *   onnxruntime session creation and `session.run` is timed inside the worker;
 * - `download / readStored / readFetch`: the weight store (`WeightStore.ensureFiles`,
 *   `getFile`) on this page's main thread, and plain `fetch` of the same files.
 */
import { createGenerator, type Generator, type MemoryOption } from '../../../src/index.ts';
import type { PackageFile } from '../../../src/package/manifest.ts';
import { createIncrementalSha256, sha256Hex } from '../../../src/store/sha256.ts';
import { WEIGHT_STORE_DEFAULTS } from '../../../src/store/weight-store-defaults.ts';
import { WeightStore } from '../../../src/store/weight-store.ts';
import { BENCH_CHANNEL, type PageDownload, type PageGeneration, type PageRead, type SessionTiming, type TimedProgress } from './browser-bench-shared.ts';

const now = () => performance.timeOrigin + performance.now();
const message = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

const sessions: SessionTiming[] = [];
new BroadcastChannel(BENCH_CHANNEL).onmessage = (event: MessageEvent<SessionTiming>) => void sessions.push(event.data);

const generators = new Map<string, Generator>();
const store = new WeightStore();

/** Reads a stream to its end, discarding the bytes; returns how many there were. */
async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    bytes += value.byteLength;
  }
}

const api = {
  /** Creates a generator on the bench worker (the worker starts now). */
  create(key: string, model: string, memory?: MemoryOption) {
    const worker = new Worker(new URL('./browser-timed-worker.ts', import.meta.url), { type: 'module', name: 'flux-webgpu-bench-generator' });
    generators.set(key, createGenerator({ model, allowAnySize: true, worker, memory }));
  },

  /** One `generate()`; progress events and the worker's session timings of this call come back with it. */
  async generate(key: string, params: { prompt: string; width: number; height: number; steps: number; seed: number }): Promise<PageGeneration> {
    const progress: TimedProgress[] = [];
    const firstSession = sessions.length;
    const start = now();
    try {
      const result = await generators.get(key)!.generate({
        ...params,
        onProgress: (event) => {
          const { stage } = event;
          const e: TimedProgress = { t: now(), stage };
          if (event.stage === 'download') Object.assign(e, { file: event.file, loaded: event.loaded, total: event.total });
          if (event.stage === 'load') e.graph = event.graph;
          if (event.stage === 'denoise') e.step = event.step;
          progress.push(e);
        },
      });
      const end = now();
      // The last run's message may still be on its way.
      await new Promise((done) => setTimeout(done, 50));
      const report = result.memoryPlan ? await generators.get(key)!.checkDevice({ width: params.width, height: params.height }) : undefined;
      return {
        ok: true,
        start,
        end,
        timings: { ...result.timings },
        imageBytes: result.images[0]?.size,
        progress,
        sessions: sessions.slice(firstSession),
        memoryPlan: result.memoryPlan,
        memoryPlanReason: result.memoryPlanReason,
        gpuPeakBytes: result.gpuPeakBytes,
        gpuStages: result.gpuStages,
        predictedGpuBytes: report?.memory && result.memoryPlan ? report.memory.plans[result.memoryPlan].neededBytes : undefined,
      };
    } catch (error) {
      return { ok: false, error: message(error), start, end: now(), progress, sessions: sessions.slice(firstSession) };
    }
  },

  async dispose(key: string) {
    await generators.get(key)?.dispose();
    generators.delete(key);
  },

  /** `WeightStore.ensureFiles` of the files on this page's main thread. */
  async download(packageUrl: string, files: PackageFile[]): Promise<PageDownload> {
    let progressEvents = 0;
    const t0 = performance.now();
    try {
      await store.ensureFiles(packageUrl, files, { onProgress: () => void progressEvents++ });
      return { ok: true, ms: performance.now() - t0, bytes: files.reduce((s, f) => s + f.size, 0), progressEvents };
    } catch (error) {
      return { ok: false, error: message(error), ms: performance.now() - t0, bytes: 0, progressEvents };
    }
  },

  /** `getFile` (with or without its chunk check), then the Blob read through to its end. */
  async readStored(packageUrl: string, path: string, verify: boolean): Promise<PageRead> {
    const t0 = performance.now();
    try {
      const blob = await store.getFile(packageUrl, path, { verify });
      const t1 = performance.now();
      const bytes = await drain(blob.stream());
      return { ok: true, openMs: t1 - t0, readMs: performance.now() - t1, bytes };
    } catch (error) {
      return { ok: false, error: message(error), openMs: performance.now() - t0, readMs: 0, bytes: 0 };
    }
  },

  /** Plain `fetch` of a URL (no HTTP cache), body read through to its end and discarded. */
  async readFetch(url: string): Promise<PageRead> {
    const t0 = performance.now();
    try {
      const response = await fetch(url, { cache: 'no-store' });
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      const t1 = performance.now();
      const bytes = await drain(response.body);
      return { ok: true, openMs: t1 - t0, readMs: performance.now() - t1, bytes };
    } catch (error) {
      return { ok: false, error: message(error), openMs: performance.now() - t0, readMs: 0, bytes: 0 };
    }
  },

  /**
   * What the download's hashing alone costs on this thread: the store's whole-file
   * incremental sha256 (@noble/hashes, fed read-buffer-sized pieces) and its per-chunk
   * WebCrypto digest, each over `bytes` of random data. Milliseconds.
   */
  async hashCost(bytes: number) {
    const chunk = new Uint8Array(WEIGHT_STORE_DEFAULTS.chunkSizeBytes);
    for (let i = 0; i < chunk.length; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
    const pieces = Math.max(1, Math.round(bytes / chunk.length));
    const piece = WEIGHT_STORE_DEFAULTS.readBufferBytes;
    let t0 = performance.now();
    const hasher = await createIncrementalSha256();
    for (let i = 0; i < pieces; i++) for (let o = 0; o < chunk.length; o += piece) hasher.update(chunk.subarray(o, o + piece));
    hasher.digestHex();
    const incrementalMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < pieces; i++) await sha256Hex(chunk);
    const webCryptoMs = performance.now() - t0;
    return { bytes: pieces * chunk.length, incrementalMs, webCryptoMs };
  },

  deletePackage: (packageUrl: string) => store.deletePackage(packageUrl),
  bytesUsed: () => store.bytesUsed(),
  estimate: async () => {
    const { quota = 0, usage = 0 } = await navigator.storage.estimate();
    return { quota, usage };
  },
};

declare global {
  interface Window {
    fluxBench: typeof api;
  }
}
window.fluxBench = api;
