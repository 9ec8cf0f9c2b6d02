/**
 * The local engine, run inside the generator worker (no DOM): loads a web model package
 * (manifest → device check → weights from the WeightStore → onnxruntime sessions on one
 * GPUDevice) and generates images with the same pipeline code the Node CLI runs.
 *
 * Calls that use the model (`load`, `generate`, `deleteModel` of the loaded package) run
 * one at a time in arrival order; `cancel(id)` aborts a queued or running generation.
 */
import { releaseProxy } from 'comlink';
import { DEFAULTS } from '../defaults.ts';
import { AbortedError, DeviceCapabilityError, DeviceLostError, FluxError, GpuOutOfMemoryError, InvalidParameterError, ModelPackageError, throwIfAborted, WorkerCrashedError } from '../errors.ts';
import { formatBytes } from '../format-bytes.ts';
import { isImportedPackageUrl } from '../import/hub-model-source.ts';
import { graphByRole, hasTextEncoders, type Manifest } from '../package/manifest.ts';
import { packageUrlOf } from '../package/package-url.ts';
import type { ProgressCallback, ProgressEvent } from '../progress.ts';
import { vaeOutputToRgb } from '../pipeline/image.ts';
import { decodeLatents } from '../pipeline/vae-decode.ts';
import { loadTokenizers, type PackageTokenizers } from '../pipeline/text-encoding.ts';
import { resolveForFamily, validateRequest, type ValidRequest } from '../request.ts';
import { LIMITS } from '../defaults.ts';
import { countTokens, type TokenCount } from '../text/token-count.ts';
import { resolveRetryPolicy, type DownloadRetryOptions } from '../store/download-retry.ts';
import { WeightStore, type WeightStoreOptions } from '../store/weight-store.ts';
import { capabilityError, createGpuContext, describeAdapter, maxPixelsFor, packageShortfalls, type GpuContext } from './gpu-device.ts';
import { decodeTileFor, DeviceMemory, gpuMemoryError, memoryReport, vaeLimitsOf, type GpuMemoryCap } from './device-memory.ts';
import { encodeImage } from './image-encoding.ts';
import { fetchManifest } from './manifest-fetch.ts';
import { checkMemoryOption, lighterPlan, planWithVaeTiles, type MemoryOption, type MemoryPlan } from './memory-plan.ts';
import { isOutOfMemory } from './out-of-memory.ts';
import { PackageTokenizerCache } from './package-tokenizers.ts';
import { configureOrt, type OrtSettings } from './ort.ts';
import { PackageCache } from './package-cache.ts';
import { loadAllSessions, runPlan } from './plan-runner.ts';
import { PromptCache } from './prompt-cache.ts';
import { validateDecodeRequest, type ValidDecodeRequest } from './decode-request.ts';
import type { DeviceCheckOptions, DeviceReport, EngineApi, EngineDecodeRequest, EngineDecodeResult, EngineSettings, EngineGenerateRequest, EngineGenerateResult, LoadedModel, StoredModel } from './protocol.ts';
import { isWasmAbort, saysDeviceLost } from './runtime-errors.ts';
import { modelFamily } from '../models/family.ts';
import { SerialQueue } from './serial-queue.ts';
import { vaeEncoderGraph } from '../pipeline/vae-encode.ts';
import { WebModelRuntime, type WebRuntimeOptions } from './web-runtime.ts';
import { navigatorGpu } from './webgpu-types.ts';

/** The parts of the WeightStore the engine uses (a test or an app may pass its own). */
export type EngineWeightStore = Pick<WeightStore, 'ensureFiles' | 'getFile' | 'getVerifiedFiles' | 'listPackages' | 'deletePackage' | 'registerFiles' | 'readManifest'>;

/** Options of the engine (fixed for its lifetime). */
export interface EngineOptions extends OrtSettings, WebRuntimeOptions {
  /** Where weights are kept (default a `WeightStore` with `weightStore` options). */
  store?: EngineWeightStore;
  weightStore?: WeightStoreOptions;
  /** Tests: make the GPU look smaller than it is. */
  gpuMemoryCap?: GpuMemoryCap;
  /** Idle timeout and retries of model downloads. */
  download?: DownloadRetryOptions;
}

/** A package with its sessions. */
interface LoadedPackage {
  url: string;
  manifest: Manifest;
  runtime: WebModelRuntime;
  tokenizers?: PackageTokenizers;
}

/** The largest single GPU buffer the limits allow (bytes), for the VAE encoder's tile choice. */
export function maxBufferBytesOf(limits?: { maxBufferSize: number; maxStorageBufferBindingSize: number }): number | undefined {
  return limits && Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
}

/** Closes the message port of a callback that arrived as a Comlink proxy (no-op for plain functions). */
function releaseCallback(callback?: ProgressCallback): void {
  const release = (callback as unknown as Record<symbol, unknown> | undefined)?.[releaseProxy];
  if (typeof release === 'function') (release as () => void)();
}

/** A progress callback that also records the stage of the latest event in `stage.current`. */
function trackStage(stage: { current: string }, progress: (event: ProgressEvent) => void): (event: ProgressEvent) => void {
  return (event) => {
    if (event.stage !== 'done') stage.current = event.stage;
    progress(event);
  };
}

/** A progress callback that never throws and ignores a rejected (remote) call. */
function safeProgress(callback?: ProgressCallback): (event: ProgressEvent) => void {
  return (event) => {
    if (!callback) return;
    try {
      const result = callback(event) as unknown;
      if (result && typeof (result as Promise<void>).catch === 'function') (result as Promise<void>).catch(() => undefined);
    } catch {
      // Progress must not break a generation.
    }
  };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `task`, or AbortedError as soon as `signal` aborts (the task still settles on its own). */
function untilAborted<T>(task: Promise<T>, signal: AbortSignal): Promise<T> {
  const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new AbortedError()), { once: true }));
  task.catch(() => undefined);
  aborted.catch(() => undefined);
  return Promise.race([task, aborted]);
}

/** The in-worker engine; see `EngineApi` for each operation's contract. */
export class Engine implements EngineApi {
  private options: EngineOptions;
  private storeInstance?: EngineWeightStore;
  private gpuContext?: Promise<GpuContext>;
  private loaded?: LoadedPackage;
  private readonly queue = new SerialQueue();
  private readonly running = new Map<string, AbortController>();
  /** Manifests and device reports, once per package (reports again after a device loss). */
  private readonly cache = new PackageCache();
  /** Set when onnxruntime's wasm aborted: every later call fails with it (the page then starts a fresh worker). */
  private broken?: WorkerCrashedError;
  private memoryInstance?: DeviceMemory;
  /** Text conditioning per package and prompt ("generate again" and seed variations skip the encoders). */
  private readonly promptCache = new PromptCache();
  private readonly tokenizerCache = new PackageTokenizerCache(() => this.store, (url) => this.manifest(url));
  /** The package being loaded (downloaded, verified, compiled) right now, if any. */
  private loading?: { url: string; done: Promise<unknown> };

  constructor(options: EngineOptions = {}) {
    this.options = options;
  }

  /** GPU memory accounting (counting wrapper, probe, plan choice). */
  private get memory(): DeviceMemory {
    this.memoryInstance ??= new DeviceMemory(this.options.gpuMemoryCap);
    return this.memoryInstance;
  }

  private get store(): EngineWeightStore {
    this.storeInstance ??= this.options.store ?? new WeightStore(this.options.weightStore);
    return this.storeInstance;
  }

  /** The shared GPU context, re-created after a device loss. */
  private async gpu(): Promise<GpuContext> {
    if (this.gpuContext) {
      const context = await this.gpuContext.catch(() => undefined);
      if (context && !context.isLost) return context;
      this.gpuContext = undefined;
      if (context?.isLost) await this.unload();
    }
    const created = createGpuContext().then((context) => {
      // Every buffer onnxruntime creates on this device is counted from the start.
      this.memory.counter(context);
      return context;
    });
    this.gpuContext = created;
    created.then(
      // Reports describe this device: a lost device makes them stale.
      (context) => void context.lost.then(() => this.cache.dropDeviceReports()),
      () => {
        if (this.gpuContext === created) this.gpuContext = undefined;
      },
    );
    return created;
  }

  /** Changes options (threads, log level, session residency); only before the first load. */
  async configure(settings: EngineSettings): Promise<void> {
    if (this.loaded || this.gpuContext) throw new InvalidParameterError('configure', 'called before the first load or device check', 'too late', 'conflict');
    if (settings.download !== undefined) resolveRetryPolicy([settings.download], 'download');
    this.options = { ...this.options, ...settings };
  }

  checkDevice(model?: string, options: DeviceCheckOptions = {}): Promise<DeviceReport> {
    return this.guard('checkDevice', async () => {
      if (model === undefined) return this.probeDevice();
      const url = packageUrlOf(model);
      // An imported package not stored yet: its import checks the device from its plan.
      if (isImportedPackageUrl(url) && !(await this.store.readManifest(url))) return this.probeDevice();
      const report = await this.cache.deviceReport(url, () => this.probeDevice(url));
      // Probe GPU memory only when the features and buffer limits fit (it would not change the answer).
      if (!report.ok) return report;
      const width = options.width ?? DEFAULTS.width;
      const height = options.height ?? DEFAULTS.height;
      const memoryOption = checkMemoryOption(options.memory);
      const [manifest, gpu] = await Promise.all([this.manifest(url), this.gpu()]);
      const planned = await this.queue.run(() => this.memory.plan(manifest, gpu, width, height, memoryOption));
      const shortfalls = [...report.shortfalls];
      if (planned.choice.plan === null) {
        shortfalls.push({ capability: 'gpu-memory', needed: planned.choice.neededBytes, available: planned.choice.availableBytes, detail: planned.choice.reason });
      }
      return {
        ...report,
        ok: shortfalls.length === 0,
        shortfalls,
        reasons: shortfalls.map((s) => `${s.capability}: ${s.detail}`),
        memory: memoryReport(planned.budget, planned.available, planned.choice),
      };
    });
  }

  /**
   * The package's manifest, fetched once per session (read from the weight store for an
   * imported package; ModelPackageError 'not-stored' while it is not imported completely).
   */
  private manifest(url: string): Promise<Manifest> {
    return this.cache.manifest(url, async () => {
      if (!isImportedPackageUrl(url)) return fetchManifest(url);
      const stored = await this.store.readManifest(url);
      if (!stored) throw new ModelPackageError(`${url} is an imported package that is not in this browser's storage (yet): import it first (importModel, or createGenerator({ model: { from: 'hf:…' } }))`, url, 'not-stored');
      return stored;
    });
  }

  /** What the device offers, and (with a package URL) whether the package fits. */
  private async probeDevice(url?: string): Promise<DeviceReport> {
    const noGpu = (capability: string, detail: string): DeviceReport => ({
      webgpu: false,
      adapter: { vendor: '', architecture: '', description: '' },
      features: [],
      limits: { maxBufferSize: 0, maxStorageBufferBindingSize: 0 },
      shaderF16: false,
      flashAttention: false,
      crossOriginIsolated: Boolean((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated),
      ok: false,
      shortfalls: [{ capability, needed: 1, available: 0, detail }],
      reasons: [detail],
      maxPixels: 0,
    });
    if (!navigatorGpu()) return noGpu('webgpu', 'this browser has no WebGPU (navigator.gpu is missing)');
    let gpu: GpuContext;
    try {
      gpu = await this.gpu();
    } catch (error) {
      if (error instanceof DeviceCapabilityError) return noGpu(error.missing[0] ?? 'webgpu', error.message);
      throw error;
    }
    const report: DeviceReport = { ...(await describeAdapter(gpu.adapter)), ok: true, shortfalls: [], reasons: [], maxPixels: Infinity };
    if (url === undefined) return report;
    const manifest = await this.manifest(url);
    const shortfalls = await packageShortfalls(manifest, gpu);
    return {
      ...report,
      model: { url, modelId: manifest.modelId, weights: manifest.weights, totalFileBytes: manifest.files.reduce((sum, f) => sum + f.size, 0), family: modelFamily(manifest) },
      modelId: manifest.modelId,
      ok: shortfalls.length === 0,
      shortfalls,
      reasons: shortfalls.map((s) => `${s.capability}: ${s.detail}`),
      maxPixels: maxPixelsFor(manifest, gpu.device.limits),
    };
  }

  async load(model: string, onProgress?: ProgressCallback, id?: string, options: { memory?: MemoryOption } = {}): Promise<LoadedModel> {
    const memory = checkMemoryOption(options.memory);
    const stage = { current: 'load' };
    const progress = trackStage(stage, safeProgress(onProgress));
    if (id === undefined) {
      return this.guard(() => stage.current, () => this.queue.run(() => this.loadPlanned(packageUrlOf(model), progress, memory))).finally(() => releaseCallback(onProgress));
    }
    // Cancellable by id, as generate() is: at once when queued, at the next check when running.
    if (this.running.has(id)) throw new InvalidParameterError('id', 'unique among running requests', id, 'conflict');
    const controller = new AbortController();
    this.running.set(id, controller);
    try {
      return await untilAborted(this.guard(() => stage.current, () => this.queue.run(() => this.loadPlanned(packageUrlOf(model), progress, memory, controller.signal))), controller.signal);
    } finally {
      this.running.delete(id);
      releaseCallback(onProgress);
    }
  }

  /**
   * `loadNow`, then every session too where the resident plan will run: when forced, or
   * (auto) when the memory measured so far holds it at the default size. load() never
   * extends the probe: on a GPU that shares the system's memory (SwiftShader, integrated
   * GPUs) probing for a size nobody asked for would take that memory for nothing.
   */
  private async loadPlanned(url: string, progress: (event: ProgressEvent) => void, memory: MemoryOption, signal?: AbortSignal): Promise<LoadedModel> {
    const loaded = await this.loadNow(url, progress, signal);
    const gpu = await this.gpu();
    let resident = memory === 'resident';
    const measured = memory === 'auto' ? this.memory.measured(gpu) : undefined;
    if (measured) {
      const { choice } = planWithVaeTiles(this.loaded!.manifest, DEFAULTS.width, DEFAULTS.height, vaeLimitsOf(gpu), measured, 'auto');
      resident = choice.plan === 'resident';
    }
    if (!resident) return loaded;
    const loadMs = await loadAllSessions(this.loaded!.runtime, progress, signal);
    return { ...loaded, loadMs: loaded.loadMs + loadMs };
  }

  async generate(id: string, request: EngineGenerateRequest, onProgress?: ProgressCallback): Promise<EngineGenerateResult> {
    if (this.running.has(id)) throw new InvalidParameterError('id', 'unique among running requests', id, 'conflict');
    const controller = new AbortController();
    this.running.set(id, controller);
    const stage = { current: 'generate' };
    try {
      // What a structured clone could break is checked again, by the same function, before
      // waiting in the queue or downloading anything.
      const { model, allowAnySize, keepIntermediates, memory, memoryFallback, ...fields } = request;
      const valid = validateRequest(fields, { sizes: allowAnySize ? 'any' : 'web' });
      const run = { memory: checkMemoryOption(memory), memoryFallback: typeof memoryFallback === 'string' ? memoryFallback : undefined, keepIntermediates: keepIntermediates === true };
      const progress = trackStage(stage, safeProgress(onProgress));
      const task = this.guard(() => stage.current, () => this.queue.run(() => this.generateNow(packageUrlOf(model), valid, run, controller.signal, progress)));
      // A cancelled request rejects at once, queued or running; a running one stops at the
      // next check (between shards and steps) before the queue moves on.
      return await untilAborted(task, controller.signal);
    } finally {
      this.running.delete(id);
      releaseCallback(onProgress);
    }
  }

  async decodeLatents(id: string, request: EngineDecodeRequest, onProgress?: ProgressCallback): Promise<EngineDecodeResult> {
    if (this.running.has(id)) throw new InvalidParameterError('id', 'unique among running requests', id, 'conflict');
    const controller = new AbortController();
    this.running.set(id, controller);
    const stage = { current: 'decode' };
    try {
      // Checked before waiting in the queue or downloading anything.
      const valid = validateDecodeRequest(request);
      const progress = trackStage(stage, safeProgress(onProgress));
      const task = this.guard(() => stage.current, () => this.queue.run(() => this.decodeNow(packageUrlOf(request.model), valid, controller.signal, progress)));
      return await untilAborted(task, controller.signal);
    } finally {
      this.running.delete(id);
      releaseCallback(onProgress);
    }
  }

  cancel(id: string): void {
    this.running.get(id)?.abort();
  }

  async countTokens(model: string, prompt: string): Promise<TokenCount> {
    // Not queued: counting runs beside a generation (it needs only the tokenizer files).
    if (typeof prompt !== 'string' || prompt.length > LIMITS.prompt.maxChars) {
      throw new InvalidParameterError('prompt', `text of at most ${LIMITS.prompt.maxChars} characters`, typeof prompt === 'string' ? `${prompt.length} characters` : prompt, typeof prompt === 'string' ? 'out-of-range' : 'wrong-type');
    }
    const url = packageUrlOf(model);
    // A load of the same package stores and loads the tokenizers anyway: wait for it
    // rather than fetching them beside its download.
    if (this.loading?.url === url) await this.loading.done.catch(() => undefined);
    return countTokens(await this.tokenizerCache.get(url), prompt);
  }

  async listModels(): Promise<StoredModel[]> {
    const packages = await this.store.listPackages();
    return packages.map((p) => ({ ...p, complete: p.complete && p.files.length > 0 }));
  }

  deleteModel(url: string): Promise<void> {
    const packageUrl = packageUrlOf(url);
    return this.queue.run(async () => {
      if (this.loaded?.url === packageUrl) await this.unload();
      await this.tokenizerCache.settled(packageUrl);
      this.tokenizerCache.forget(packageUrl);
      this.cache.forget(packageUrl);
      this.promptCache.forget(packageUrl);
      await this.store.deletePackage(packageUrl);
    });
  }

  /**
   * Runs an operation and types what onnxruntime or WebGPU throw: a lost GPU device is a
   * DeviceLostError (the device and its reports are dropped; the next call makes a new
   * one), a wasm abort a WorkerCrashedError (this worker is unusable from then on).
   * @param stage the stage the operation is in (for the error), or a function giving it
   */
  private async guard<T>(stage: string | (() => string), task: () => Promise<T>): Promise<T> {
    const stageNow = () => (typeof stage === 'string' ? stage : stage());
    if (this.broken) throw new WorkerCrashedError(this.broken.message, 'wasm-abort', stageNow());
    try {
      return await task();
    } catch (error) {
      if (isWasmAbort(error)) {
        this.broken = new WorkerCrashedError(
          `onnxruntime's WebAssembly aborted during ${stageNow()} (it may have run out of memory); this worker cannot be used any more. The next call starts a new one.`,
          'wasm-abort',
          stageNow(),
        );
        throw this.broken;
      }
      // (GpuOutOfMemoryError is a DeviceCapabilityError: the plan runner typed it already.)
      if (error instanceof InvalidParameterError || error instanceof AbortedError || error instanceof DeviceCapabilityError || error instanceof DeviceLostError) throw error;
      if (await this.deviceLost(error)) {
        await this.unload().catch(() => undefined);
        this.gpuContext = undefined;
        this.cache.dropDeviceReports();
        throw new DeviceLostError(`The GPU device was lost during ${stageNow()} (a driver reset, or the GPU ran out of memory). Try again: the next call creates a new device.`, stageNow());
      }
      throw error;
    }
  }

  /** Whether the shared GPU device is lost (waits briefly for its \`lost\` promise, which settles after the failing call). */
  private async deviceLost(error: unknown): Promise<boolean> {
    const context = await this.gpuContext?.catch(() => undefined);
    if (!context) return false;
    if (!context.isLost) await Promise.race([context.lost, new Promise((done) => setTimeout(done, 200))]);
    return context.isLost || (error instanceof FluxError ? false : saysDeviceLost(error));
  }

  dispose(): Promise<void> {
    return this.queue.run(async () => {
      await this.unload();
      const context = await this.gpuContext?.catch(() => undefined);
      this.gpuContext = undefined;
      context?.device.destroy();
    });
  }

  /** Releases every session and the GPU device; the next call creates a fresh device. */
  private async resetGpu(): Promise<void> {
    await this.unload();
    const context = await this.gpuContext?.catch(() => undefined);
    this.gpuContext = undefined;
    this.memory.reset();
    this.cache.dropDeviceReports();
    context?.device.destroy();
  }

  /** Releases the loaded package's sessions. */
  private async unload(): Promise<void> {
    const loaded = this.loaded;
    this.loaded = undefined;
    await loaded?.runtime.release();
  }

  /**
   * Downloads (when needed) and opens the package unless it is open already; sessions are
   * created by the memory plan that runs (`loadAllSessions` for resident).
   * @param request when given, it must suit the package and the device (checked before any download)
   */
  private async loadNow(url: string, progress: (event: ProgressEvent) => void, signal?: AbortSignal, request?: ValidRequest): Promise<LoadedModel> {
    const started = performance.now();
    const gpu = await this.gpu();
    if (this.loaded?.url === url) {
      if (request) this.preflight(this.loaded.manifest, request, gpu);
      return this.describe(this.loaded, 0);
    }
    await this.unload();
    // The manifest and the device report are those routing used (fetched and probed once).
    const manifest = await this.manifest(url);
    throwIfAborted(signal);
    // The device and request checks come before any weight request.
    const report = await this.cache.deviceReport(url, () => this.probeDevice(url));
    if (!report.ok) throw capabilityError(manifest, report.shortfalls);
    if (request) this.preflight(manifest, request, gpu);
    throwIfAborted(signal);
    configureOrt(this.options);
    // Token counting may be storing this package's tokenizer files: let it finish first.
    await this.tokenizerCache.settled(url);
    const download = this.store.ensureFiles(url, manifest.files, { signal, onProgress: progress, modelId: manifest.modelId, retry: this.options.download });
    this.loading = { url, done: download };
    try {
      await download;
    } finally {
      if (this.loading?.done === download) this.loading = undefined;
    }
    const runtime = new WebModelRuntime(manifest, { get: (path) => this.storedFile(url, manifest, path) }, gpu.device, this.options);
    try {
      const tokenizers = hasTextEncoders(manifest) ? await loadTokenizers(runtime) : undefined;
      if (tokenizers) this.tokenizerCache.set(url, tokenizers);
      this.loaded = { url, manifest, runtime, tokenizers };
    } catch (error) {
      await runtime.release();
      throw error;
    }
    return this.describe(this.loaded, performance.now() - started);
  }

  /**
   * A stored file as a Blob; a file whose stored chunks fail their check is downloaded
   * again (the damaged part only) and read once more.
   */
  private async storedFile(url: string, manifest: Manifest, path: string): Promise<Blob> {
    const file = manifest.files.find((f) => f.path === path);
    if (!file) return this.store.getFile(url, path);
    const blobs = await this.store.getVerifiedFiles(url, [file], { modelId: manifest.modelId, retry: this.options.download });
    return blobs.get(path)!;
  }

  private describe(loaded: LoadedPackage, loadMs: number): LoadedModel {
    const { manifest } = loaded;
    return {
      url: loaded.url,
      modelId: manifest.modelId,
      weights: manifest.weights,
      textEncoders: hasTextEncoders(manifest),
      graphs: manifest.graphs.length,
      totalFileBytes: manifest.files.reduce((sum, f) => sum + f.size, 0),
      loadMs,
    };
  }

  /**
   * Runs one checked request on the package at `url` under the memory plan its size and
   * the measured GPU memory allow (loading the package first when needed). Warnings are
   * the engine's own (the page has the request's).
   * @throws DeviceCapabilityError (`missing: ['gpu-memory']`) when no plan fits, before any weight request
   * @throws GpuOutOfMemoryError when the GPU ran out of memory or was lost while loading or running (the worker is then unusable)
   */
  private async generateNow(
    url: string,
    valid: ValidRequest,
    run: { memory: MemoryOption; memoryFallback?: string; keepIntermediates: boolean },
    signal: AbortSignal,
    progress: (event: ProgressEvent) => void,
  ): Promise<EngineGenerateResult> {
    throwIfAborted(signal);
    const started = performance.now();
    const gpu = await this.gpu();
    // Every check comes before any weight request: features and buffer limits, the request
    // against the package, and the GPU memory of the plan (the bounded probe).
    const manifest = await this.manifest(url);
    const report = await this.cache.deviceReport(url, () => this.probeDevice(url));
    if (!report.ok) throw capabilityError(manifest, report.shortfalls);
    this.preflight(manifest, valid, gpu);
    const { budget, choice } = await this.memory.plan(manifest, gpu, valid.width, valid.height, run.memory);
    if (!choice.plan) throw gpuMemoryError(manifest.modelId, choice);
    const plan: MemoryPlan = choice.plan;
    const reason = run.memoryFallback ? `${plan}: ${formatBytes(budget.plans[plan].neededBytes)} needed; ${run.memoryFallback}` : choice.reason;
    progress({ stage: 'plan', plan, reason, neededBytes: budget.plans[plan].neededBytes, availableBytes: choice.availableBytes });
    const counter = this.memory.counter(gpu);
    const refusedBefore = counter.snapshot().refusedAllocations;
    try {
      const loadInfo = await this.loadNow(url, progress, signal, valid);
      const loaded = this.loaded!;
      // The model's own defaults: 28 steps and guidance 3.5 for [dev], 4 steps for [schnell].
      const family = resolveForFamily(valid, modelFamily(loaded.manifest), loaded.manifest.modelId);
      const ran = await runPlan({
        plan,
        packageUrl: url,
        runtime: loaded.runtime,
        tokenizers: loaded.tokenizers,
        request: valid,
        signal,
        progress,
        promptCache: this.promptCache,
        counter,
        keepIntermediates: run.keepIntermediates,
        preview: valid.preview,
        vaeTilePx: decodeTileFor(manifest, gpu, budget, choice),
        steps: family.steps,
        guidance: family.guidance,
        maxBufferBytes: maxBufferBytesOf(gpu.device.limits),
      });
      progress({ stage: 'done' });
      return {
        images: ran.images,
        seed: valid.seed,
        width: valid.width,
        height: valid.height,
        steps: family.steps,
        ...(family.guidance === undefined ? {} : { guidance: family.guidance }),
        ...(valid.strength !== undefined ? { strength: valid.strength } : {}),
        timings: { ...ran.timings, loadMs: loadInfo.loadMs + ran.timings.loadMs, totalMs: performance.now() - started },
        warnings: [...family.warnings, ...ran.warnings],
        ...(ran.intermediates ? { intermediates: { ...ran.intermediates } } : {}),
        memoryPlan: plan,
        memoryPlanReason: reason,
        gpuPeakBytes: ran.gpuPeakBytes,
        gpuStages: ran.gpuStages,
      };
    } catch (error) {
      const lost = gpu.isLost;
      if (signal.aborted || (!lost && !isOutOfMemory(error, counter.snapshot().refusedAllocations > refusedBefore))) throw error;
      // A lost device under the lightest plan: nothing lighter to try, and onnxruntime's wasm
      // is intact (unlike after a failed allocation), so this worker stays and the guard
      // reports a DeviceLostError; the next call creates a new device.
      if (lost && !lighterPlan(plan)) throw error;
      // Out of GPU memory (or the device was lost) while loading or running. onnxruntime's
      // wasm state is corrupt after a failed allocation (later sessions fail to create, even
      // on a fresh device), so this worker is done: the page replaces it and runs the
      // request again under the next lighter plan.
      const what = lost ? 'lost the GPU device' : 'ran out of GPU memory';
      const stage = 'generate';
      this.broken = new WorkerCrashedError(`The GPU runtime in this worker failed earlier (${plan} ${what}); the next call starts a new worker.`, 'wasm-abort', stage);
      await this.resetGpu().catch(() => undefined);
      const next = lighterPlan(plan);
      throw new GpuOutOfMemoryError(
        `${plan} ${what} (${errorMessage(error)})${next ? `; ${next} needs ${formatBytes(budget.plans[next].neededBytes)}` : '; no lighter memory plan is left'}`,
        plan,
        next,
        { neededBytes: budget.plans[next ?? plan].neededBytes, availableBytes: choice.availableBytes },
      );
    }
  }

  /** Decodes given latents with the loaded package's VAE (see `EngineApi.decodeLatents`). */
  private async decodeNow(url: string, valid: ValidDecodeRequest, signal: AbortSignal, progress: (event: ProgressEvent) => void): Promise<EngineDecodeResult> {
    throwIfAborted(signal);
    const started = performance.now();
    const loadInfo = await this.loadNow(url, progress, signal);
    progress({ stage: 'decode', image: 1, images: 1 });
    const decodeStart = performance.now();
    const { output, tilePx } = await decodeLatents(this.loaded!.runtime, { ...valid, limits: vaeLimitsOf(await this.gpu()), signal });
    const image = await encodeImage(vaeOutputToRgb(output.data, output.height, output.width), valid.outputFormat, valid.quality);
    progress({ stage: 'done' });
    const decodeMs = performance.now() - decodeStart;
    return { image, width: output.width, height: output.height, tilePx, timings: { loadMs: loadInfo.loadMs, decodeMs, totalMs: performance.now() - started }, ...(valid.keepOutput ? { output: output.data } : {}) };
  }

  /**
   * What the request needs from the package and the device: a prompt needs text encoders,
   * embeddings must have the package's widths, the size must fit the buffer limits.
   * @throws InvalidParameterError or DeviceCapabilityError
   */
  private preflight(manifest: Manifest, request: ValidRequest, gpu: GpuContext): void {
    resolveForFamily(request, modelFamily(manifest), manifest.modelId);
    if (request.image) vaeEncoderGraph(manifest); // image-to-image needs the encoder: a typed error before any download
    if (request.promptEmbeddings) this.checkEmbeddings(manifest, request.promptEmbeddings);
    else if (!hasTextEncoders(manifest)) {
      throw new InvalidParameterError('prompt', `used with a package that has text encoders (${manifest.modelId} has none: give promptEmbeddings)`, request.prompt, 'no-text-encoders');
    }
    this.assertSizeFits(manifest, request.width, request.height, gpu.device.limits);
  }

  /** The requested size must keep the largest activation within the GPU's buffer limits. */
  private assertSizeFits(manifest: Manifest, width: number, height: number, limits: { maxBufferSize: number; maxStorageBufferBindingSize: number }): void {
    const maxPixels = maxPixelsFor(manifest, limits);
    if (width * height <= maxPixels) return;
    const needed = Math.ceil((manifest.requirements.largestActivationBytesAt1024 * width * height) / (1024 * 1024));
    const limitName = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    const available = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    const side = Math.floor(Math.sqrt(maxPixels) / 16) * 16;
    throw capabilityError(
      manifest,
      [{ capability: limitName, needed, available, detail: `${width}×${height} needs a ${formatBytes(needed)} buffer; the GPU allows ${formatBytes(available)} (about ${side}×${side} at most)` }],
      'size-too-large',
    );
  }

  /** Prompt embeddings must match the package's text dimensions. */
  private checkEmbeddings(manifest: Manifest, embeddings: { promptEmbeds: Float32Array; pooledPromptEmbeds: Float32Array }) {
    const embed = graphByRole(manifest, 'transformer-embed');
    const jointDim = embed.inputs.find((i) => i.name === 'encoder_hidden_states')?.dims[2];
    const pooledDim = embed.inputs.find((i) => i.name === 'pooled_projections')?.dims[1];
    if (typeof jointDim === 'number' && embeddings.promptEmbeds.length % jointDim !== 0) {
      throw new InvalidParameterError('promptEmbeddings', `promptEmbeds of [1, tokens, ${jointDim}] float32 values for ${manifest.modelId}`, `${embeddings.promptEmbeds.length} values`, 'embedding-shape');
    }
    if (typeof pooledDim === 'number' && embeddings.pooledPromptEmbeds.length !== pooledDim) {
      throw new InvalidParameterError('promptEmbeddings', `pooledPromptEmbeds of [1, ${pooledDim}] float32 values for ${manifest.modelId}`, `${embeddings.pooledPromptEmbeds.length} values`, 'embedding-shape');
    }
    return embeddings;
  }
}
