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
import { AbortedError, DeviceCapabilityError, FluxError, GpuOutOfMemoryError, InvalidParameterError } from '../errors.ts';
import { graphByRole, hasTextEncoders, type Manifest } from '../package/manifest.ts';
import type { ProgressCallback, ProgressEvent } from '../progress.ts';
import { loadTokenizers, type PackageTokenizers } from '../pipeline/text-encoding.ts';
import { resolveRetryPolicy, type DownloadRetryOptions } from '../store/download-retry.ts';
import { WeightStore, type WeightStoreOptions } from '../store/weight-store.ts';
import { assertPackageFits, capabilityError, createGpuContext, describeAdapter, formatBytes, maxPixelsFor, packageShortfalls, type GpuContext } from './gpu-device.ts';
import { DeviceMemory, gpuMemoryError, memoryReport, type GpuMemoryCap } from './device-memory.ts';
import { fetchManifest, packageUrlOf } from './manifest-fetch.ts';
import { checkMemoryOption, lighterPlan, type MemoryOption, type MemoryPlan } from './memory-plan.ts';
import { isOutOfMemory } from './out-of-memory.ts';
import { configureOrt, type OrtSettings } from './ort.ts';
import { loadAllSessions, runPlan } from './plan-runner.ts';
import { PromptCache } from './prompt-cache.ts';
import type { DeviceCheckOptions, DeviceReport, EngineApi, EngineSettings, EngineGenerateRequest, EngineGenerateResult, LoadedModel, StoredModel } from './protocol.ts';
import { validateRequest, type ValidRequest } from './request.ts';
import { SerialQueue } from './serial-queue.ts';
import { WebModelRuntime, type WebRuntimeOptions } from './web-runtime.ts';
import { navigatorGpu } from './webgpu-types.ts';

/** The parts of the WeightStore the engine uses (a test or an app may pass its own). */
export type EngineWeightStore = Pick<WeightStore, 'ensureFiles' | 'getFile' | 'listPackages' | 'deletePackage'>;

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

/** Closes the message port of a callback that arrived as a Comlink proxy (no-op for plain functions). */
function releaseCallback(callback?: ProgressCallback): void {
  const release = (callback as unknown as Record<symbol, unknown> | undefined)?.[releaseProxy];
  if (typeof release === 'function') (release as () => void)();
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

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortedError();
}

/** The in-worker engine; see `EngineApi` for each operation's contract. */
export class Engine implements EngineApi {
  private options: EngineOptions;
  private storeInstance?: EngineWeightStore;
  private gpuContext?: Promise<GpuContext>;
  private loaded?: LoadedPackage;
  private readonly queue = new SerialQueue();
  private readonly running = new Map<string, AbortController>();
  private memoryInstance?: DeviceMemory;
  private readonly promptCache = new PromptCache();
  /** Set after an out-of-memory failure: onnxruntime's wasm state is broken, the worker must be replaced. */
  private broken?: string;

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
      this.memory.counter(context);
      return context;
    });
    this.gpuContext = created;
    created.catch(() => {
      if (this.gpuContext === created) this.gpuContext = undefined;
    });
    return created;
  }

  /** Changes options (threads, log level, session residency); only before the first load. */
  async configure(settings: EngineSettings): Promise<void> {
    if (this.loaded || this.gpuContext) throw new InvalidParameterError('configure', 'called before the first load or device check', 'too late');
    if (settings.download !== undefined) resolveRetryPolicy([settings.download], 'download');
    this.options = { ...this.options, ...settings };
  }

  async checkDevice(model?: string, options: DeviceCheckOptions = {}): Promise<DeviceReport> {
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
    if (model === undefined) return report;
    const url = packageUrlOf(model);
    const manifest = this.loaded?.url === url ? this.loaded.manifest : await fetchManifest(url);
    const shortfalls = await packageShortfalls(manifest, gpu);
    const width = options.width ?? DEFAULTS.width;
    const height = options.height ?? DEFAULTS.height;
    const memoryOption = checkMemoryOption(options.memory);
    // Probe only when the features and buffer limits fit (the probe would not change the answer).
    const planned = shortfalls.length === 0 ? await this.queue.run(() => this.memory.plan(manifest, gpu, width, height, memoryOption)) : undefined;
    if (planned && planned.choice.plan === null) {
      shortfalls.push({ capability: 'gpu-memory', needed: planned.choice.neededBytes, available: planned.choice.availableBytes, detail: planned.choice.reason });
    }
    return {
      ...report,
      model: { url, modelId: manifest.modelId, weights: manifest.weights, totalFileBytes: manifest.files.reduce((sum, f) => sum + f.size, 0) },
      modelId: manifest.modelId,
      ok: shortfalls.length === 0,
      shortfalls,
      reasons: shortfalls.map((s) => `${s.capability}: ${s.detail}`),
      maxPixels: maxPixelsFor(manifest, gpu.device.limits),
      ...(planned ? { memory: memoryReport(planned.budget, planned.available, planned.choice) } : {}),
    };
  }

  async load(model: string, onProgress?: ProgressCallback, id?: string, options: { memory?: MemoryOption } = {}): Promise<LoadedModel> {
    const memory = checkMemoryOption(options.memory);
    const url = packageUrlOf(model);
    if (id === undefined) return this.queue.run(() => this.loadPlanned(url, safeProgress(onProgress), memory)).finally(() => releaseCallback(onProgress));
    // Cancellable by id, as generate() is: at once when queued, at the next check when running.
    if (this.running.has(id)) throw new InvalidParameterError('id', 'unique among running requests', id);
    const controller = new AbortController();
    this.running.set(id, controller);
    try {
      return await untilAborted(this.queue.run(() => this.loadPlanned(url, safeProgress(onProgress), memory, controller.signal)), controller.signal);
    } finally {
      this.running.delete(id);
      releaseCallback(onProgress);
    }
  }

  /** `loadNow`, then every session too where the memory plan at the default size is resident. */
  private async loadPlanned(url: string, progress: (event: ProgressEvent) => void, memory: MemoryOption, signal?: AbortSignal): Promise<LoadedModel> {
    const loaded = await this.loadNow(url, progress, signal);
    const gpu = await this.gpu();
    const { choice } = await this.memory.plan(this.loaded!.manifest, gpu, DEFAULTS.width, DEFAULTS.height, memory);
    if (choice.plan !== 'resident') return loaded;
    const loadMs = await loadAllSessions(this.loaded!.runtime, progress, signal);
    return { ...loaded, loadMs: loaded.loadMs + loadMs };
  }

  async generate(id: string, request: EngineGenerateRequest, onProgress?: ProgressCallback): Promise<EngineGenerateResult> {
    if (this.running.has(id)) throw new InvalidParameterError('id', 'unique among running requests', id);
    const controller = new AbortController();
    this.running.set(id, controller);
    try {
      // Validate before waiting in the queue or downloading anything.
      const valid = validateRequest(request);
      const task = this.queue.run(() => this.generateNow(request, valid, controller.signal, safeProgress(onProgress)));
      // A cancelled request rejects at once, queued or running; a running one stops at the
      // next check (between shards and steps) before the queue moves on.
      const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(new AbortedError()), { once: true }));
      task.catch(() => undefined);
      aborted.catch(() => undefined);
      return await Promise.race([task, aborted]);
    } finally {
      this.running.delete(id);
      releaseCallback(onProgress);
    }
  }

  cancel(id: string): void {
    this.running.get(id)?.abort();
  }

  async listModels(): Promise<StoredModel[]> {
    const packages = await this.store.listPackages();
    return packages.map((p) => ({ ...p, complete: p.complete && p.files.length > 0 }));
  }

  deleteModel(url: string): Promise<void> {
    const packageUrl = packageUrlOf(url);
    return this.queue.run(async () => {
      if (this.loaded?.url === packageUrl) await this.unload();
      this.promptCache.forget(packageUrl);
      await this.store.deletePackage(packageUrl);
    });
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
   * @param manifest the package's manifest when the caller fetched and checked it already
   */
  private async loadNow(url: string, progress: (event: ProgressEvent) => void, signal?: AbortSignal, manifest?: Manifest): Promise<LoadedModel> {
    if (this.broken) throw new FluxError(`This worker's GPU runtime failed earlier (${this.broken}); start a new worker.`);
    const started = performance.now();
    const gpu = await this.gpu();
    if (this.loaded?.url === url) return this.describe(this.loaded, 0);
    await this.unload();
    if (!manifest) {
      manifest = await fetchManifest(url, signal);
      // The device checks come before any weight request.
      await assertPackageFits(manifest, gpu);
    }
    throwIfAborted(signal);
    configureOrt(this.options);
    await this.store.ensureFiles(url, manifest.files, { signal, onProgress: progress, modelId: manifest.modelId, retry: this.options.download });
    const store = this.store;
    const runtime = new WebModelRuntime(manifest, { get: (path) => store.getFile(url, path) }, gpu.device, this.options);
    try {
      const tokenizers = hasTextEncoders(manifest) ? await loadTokenizers(runtime) : undefined;
      this.loaded = { url, manifest, runtime, tokenizers };
    } catch (error) {
      await runtime.release();
      throw error;
    }
    return this.describe(this.loaded, performance.now() - started);
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

  private async generateNow(
    request: EngineGenerateRequest,
    valid: ValidRequest,
    signal: AbortSignal,
    progress: (event: ProgressEvent) => void,
  ): Promise<EngineGenerateResult> {
    throwIfAborted(signal);
    if (this.broken) throw new FluxError(`This worker's GPU runtime failed earlier (${this.broken}); start a new worker.`);
    const started = performance.now();
    const url = packageUrlOf(request.model);
    const memoryOption = checkMemoryOption(request.memory);
    let gpu = await this.gpu();
    // Every check comes before any weight request: features and buffer limits, the request
    // against the package, and the GPU memory of the plan (the bounded probe).
    const manifest = this.loaded?.url === url ? this.loaded.manifest : await fetchManifest(url, signal);
    if (this.loaded?.url !== url) await assertPackageFits(manifest, gpu);
    this.preflight(manifest, valid, gpu);
    const { budget, choice } = await this.memory.plan(manifest, gpu, valid.width, valid.height, memoryOption);
    if (!choice.plan) throw gpuMemoryError(manifest.modelId, choice);
    const plan: MemoryPlan = choice.plan;
    const reason = request.memoryFallback ? `${plan}: ${formatBytes(budget.plans[plan].neededBytes)} needed; ${request.memoryFallback}` : choice.reason;
    progress({ stage: 'plan', plan, reason, neededBytes: budget.plans[plan].neededBytes, availableBytes: choice.availableBytes });
    const loadInfo = await this.loadNow(url, progress, signal, manifest);
    const loaded = this.loaded!;
    const counter = this.memory.counter(gpu);
    const refusedBefore = counter.snapshot().refusedAllocations;
    try {
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
        keepIntermediates: request.keepIntermediates,
        preview: request.preview,
      });
      progress({ stage: 'done' });
      return {
        images: ran.images,
        seed: valid.seed,
        width: valid.width,
        height: valid.height,
        steps: valid.steps,
        timings: { ...ran.timings, loadMs: loadInfo.loadMs + ran.timings.loadMs, totalMs: performance.now() - started },
        warnings: [...valid.warnings, ...ran.warnings],
        ...(ran.intermediates ? { intermediates: { ...ran.intermediates } } : {}),
        memoryPlan: plan,
        memoryPlanReason: reason,
        gpuPeakBytes: ran.gpuPeakBytes,
        gpuStages: ran.gpuStages,
      };
    } catch (error) {
      const lost = gpu.isLost;
      if (signal.aborted || (!lost && !isOutOfMemory(error, counter.snapshot().refusedAllocations > refusedBefore))) throw error;
      // Out of GPU memory (or the device was lost) while loading or running. onnxruntime's
      // wasm state is corrupt after a failed allocation (later sessions fail to create, even
      // on a fresh device), so this worker is done: the page replaces it and runs the
      // request again under the next lighter plan.
      const what = lost ? 'lost the GPU device' : 'ran out of GPU memory';
      this.broken = `${plan} ${what}`;
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

  /**
   * What the request needs from the package and the device: a prompt needs text encoders,
   * embeddings must have the package's widths, the size must fit the buffer limits.
   * @throws InvalidParameterError or DeviceCapabilityError
   */
  private preflight(manifest: Manifest, request: ValidRequest, gpu: GpuContext): void {
    if (request.promptEmbeddings) this.checkEmbeddings(manifest, request.promptEmbeddings);
    else if (!hasTextEncoders(manifest)) {
      throw new InvalidParameterError('prompt', `used with a package that has text encoders (${manifest.modelId} has none: give promptEmbeddings)`, request.prompt);
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
    throw capabilityError(manifest, [
      { capability: limitName, needed, available, detail: `${width}×${height} needs a ${formatBytes(needed)} buffer; the GPU allows ${formatBytes(available)} (about ${side}×${side} at most)` },
    ]);
  }

  /** Prompt embeddings must match the package's text dimensions. */
  private checkEmbeddings(manifest: Manifest, embeddings: { promptEmbeds: Float32Array; pooledPromptEmbeds: Float32Array }) {
    const embed = graphByRole(manifest, 'transformer-embed');
    const jointDim = embed.inputs.find((i) => i.name === 'encoder_hidden_states')?.dims[2];
    const pooledDim = embed.inputs.find((i) => i.name === 'pooled_projections')?.dims[1];
    if (typeof jointDim === 'number' && embeddings.promptEmbeds.length % jointDim !== 0) {
      throw new InvalidParameterError('promptEmbeddings', `promptEmbeds of [1, tokens, ${jointDim}] float32 values for ${manifest.modelId}`, `${embeddings.promptEmbeds.length} values`);
    }
    if (typeof pooledDim === 'number' && embeddings.pooledPromptEmbeds.length !== pooledDim) {
      throw new InvalidParameterError('promptEmbeddings', `pooledPromptEmbeds of [1, ${pooledDim}] float32 values for ${manifest.modelId}`, `${embeddings.pooledPromptEmbeds.length} values`);
    }
    return embeddings;
  }
}
