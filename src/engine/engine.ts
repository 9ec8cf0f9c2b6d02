/**
 * The local engine, run inside the generator worker (no DOM): loads a web model package
 * (manifest → device check → weights from the WeightStore → onnxruntime sessions on one
 * GPUDevice) and generates images with the same pipeline code the Node CLI runs.
 *
 * Calls that use the model (`load`, `generate`, `deleteModel` of the loaded package) run
 * one at a time in arrival order; `cancel(id)` aborts a queued or running generation.
 */
import { releaseProxy } from 'comlink';
import { AbortedError, DeviceCapabilityError, DeviceLostError, FluxError, InvalidParameterError, ModelPackageError, throwIfAborted, WorkerCrashedError } from '../errors.ts';
import { formatBytes } from '../format-bytes.ts';
import { isImportedPackageUrl } from '../import/hub-model-source.ts';
import { graphByRole, hasTextEncoders, type GraphEntry, type Manifest } from '../package/manifest.ts';
import { packageUrlOf } from '../package/package-url.ts';
import type { ProgressCallback, ProgressEvent } from '../progress.ts';
import { runFluxPipeline } from '../pipeline/flux-pipeline.ts';
import { droppedTextWarnings, encodePrompt, loadTokenizers, type PackageTokenizers } from '../pipeline/text-encoding.ts';
import { imageSeed, resolveForFamily, validateRequest, type ValidRequest } from '../request.ts';
import { LIMITS } from '../defaults.ts';
import { countTokens, type TokenCount } from '../text/token-count.ts';
import { resolveRetryPolicy, type DownloadRetryOptions } from '../store/download-retry.ts';
import { WeightStore, type WeightStoreOptions } from '../store/weight-store.ts';
import { capabilityError, createGpuContext, describeAdapter, maxPixelsFor, packageShortfalls, type GpuContext } from './gpu-device.ts';
import { encodeImage } from './image-encoding.ts';
import { fetchManifest } from './manifest-fetch.ts';
import { PackageTokenizerCache } from './package-tokenizers.ts';
import { configureOrt, type OrtSettings } from './ort.ts';
import { PackageCache } from './package-cache.ts';
import type { DeviceReport, EngineApi, EngineSettings, EngineGenerateRequest, EngineGenerateResult, LoadedModel, StoredModel } from './protocol.ts';
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

/** The graphs in the order the pipeline first uses them (text encoders, transformer, VAE). */
function loadOrder(manifest: Manifest): GraphEntry[] {
  const rank: Record<GraphEntry['role'], number> = {
    'text-encoder-clip': 0,
    'text-encoder-t5-embed': 1,
    'text-encoder-t5-blocks': 2,
    'transformer-embed': 3,
    'transformer-blocks': 4,
    'transformer-head': 5,
    'vae-decoder': 6,
    'vae-encoder': 7,
  };
  // The VAE encoder is opened on the first image-to-image request, not with the package.
  return manifest.graphs.filter((g) => g.role !== 'vae-encoder').map((g, i) => ({ g, i })).sort((a, b) => rank[a.g.role] - rank[b.g.role] || a.i - b.i).map(({ g }) => g);
}

/** The largest single GPU buffer the limits allow (bytes), for the VAE encoder's tile choice. */
function maxBufferBytesOf(limits?: { maxBufferSize: number; maxStorageBufferBindingSize: number }): number | undefined {
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
  private readonly tokenizerCache = new PackageTokenizerCache(() => this.store, (url) => this.manifest(url));
  /** The package being loaded (downloaded, verified, compiled) right now, if any. */
  private loading?: { url: string; done: Promise<unknown> };

  constructor(options: EngineOptions = {}) {
    this.options = options;
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
    const created = createGpuContext();
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

  checkDevice(model?: string): Promise<DeviceReport> {
    return this.guard('checkDevice', async () => {
      if (model === undefined) return this.probeDevice();
      const url = packageUrlOf(model);
      // An imported package not stored yet: its import checks the device from its plan.
      if (isImportedPackageUrl(url) && !(await this.store.readManifest(url))) return this.probeDevice();
      return this.cache.deviceReport(url, () => this.probeDevice(url));
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

  async load(model: string, onProgress?: ProgressCallback, id?: string): Promise<LoadedModel> {
    const stage = { current: 'load' };
    const progress = trackStage(stage, safeProgress(onProgress));
    if (id === undefined) {
      return this.guard(() => stage.current, () => this.queue.run(() => this.loadNow(packageUrlOf(model), progress))).finally(() => releaseCallback(onProgress));
    }
    // Cancellable by id, as generate() is: at once when queued, at the next check when running.
    if (this.running.has(id)) throw new InvalidParameterError('id', 'unique among running requests', id, 'conflict');
    const controller = new AbortController();
    this.running.set(id, controller);
    try {
      return await untilAborted(this.guard(() => stage.current, () => this.queue.run(() => this.loadNow(packageUrlOf(model), progress, controller.signal))), controller.signal);
    } finally {
      this.running.delete(id);
      releaseCallback(onProgress);
    }
  }

  async generate(id: string, request: EngineGenerateRequest, onProgress?: ProgressCallback): Promise<EngineGenerateResult> {
    if (this.running.has(id)) throw new InvalidParameterError('id', 'unique among running requests', id, 'conflict');
    const controller = new AbortController();
    this.running.set(id, controller);
    const stage = { current: 'generate' };
    try {
      // What a structured clone could break is checked again, by the same function, before
      // waiting in the queue or downloading anything.
      const { model, allowAnySize, keepIntermediates, ...fields } = request;
      const valid = validateRequest(fields, { sizes: allowAnySize ? 'any' : 'web' });
      const progress = trackStage(stage, safeProgress(onProgress));
      const task = this.guard(() => stage.current, () => this.queue.run(() => this.generateNow(packageUrlOf(model), valid, keepIntermediates === true, controller.signal, progress)));
      // A cancelled request rejects at once, queued or running; a running one stops at the
      // next check (between shards and steps) before the queue moves on.
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

  /** Releases the loaded package's sessions. */
  private async unload(): Promise<void> {
    const loaded = this.loaded;
    this.loaded = undefined;
    await loaded?.runtime.release();
  }

  /**
   * Loads the package unless it is loaded already.
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
      const graphs = this.options.keepSessions === false ? [] : loadOrder(manifest);
      for (const [index, graph] of graphs.entries()) {
        throwIfAborted(signal);
        progress({ stage: 'load', graph: graph.name, index: index + 1, count: graphs.length });
        await runtime.session(graph);
      }
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

  /** Runs one checked request on the package at `url` (loading it first when needed). Warnings are the engine's own (the page has the request's). */
  private async generateNow(
    url: string,
    valid: ValidRequest,
    keepIntermediates: boolean,
    signal: AbortSignal,
    progress: (event: ProgressEvent) => void,
  ): Promise<EngineGenerateResult> {
    throwIfAborted(signal);
    const started = performance.now();
    const loadInfo = await this.loadNow(url, progress, signal, valid);
    const loaded = this.loaded!;
    const { runtime } = loaded;
    // The model's own defaults: 28 steps and guidance 3.5 for [dev], 4 steps for [schnell].
    const family = resolveForFamily(valid, modelFamily(loaded.manifest), loaded.manifest.modelId);
    const warnings: string[] = [...family.warnings];

    // Text conditioning, shared by every image of the request.
    throwIfAborted(signal);
    const encodeStart = performance.now();
    let conditioning: { promptEmbeds: Float32Array; pooledPromptEmbeds: Float32Array };
    if (valid.promptEmbeddings) {
      conditioning = valid.promptEmbeddings;
    } else {
      progress({ stage: 'encode' });
      const encoded = await encodePrompt(runtime, loaded.tokenizers!, valid.prompt!, signal);
      warnings.push(...droppedTextWarnings(encoded, loaded.manifest));
      conditioning = encoded;
    }
    const encodeMs = performance.now() - encodeStart;

    const images: Blob[] = [];
    let intermediates: Record<string, Float32Array> | undefined;
    let denoiseMs = 0;
    let decodeMs = 0;
    for (let i = 0; i < valid.numImages; i++) {
      const result = await runFluxPipeline(runtime, {
        ...conditioning,
        width: valid.width,
        height: valid.height,
        steps: family.steps,
        guidance: family.guidance,
        seed: imageSeed(valid.seed, i),
        signal,
        onProgress: progress,
        image: i + 1,
        images: valid.numImages,
        keepIntermediates: keepIntermediates && i === 0,
        preview: valid.preview,
        init: valid.image && { ...valid.image, strength: valid.strength!, maxBufferBytes: maxBufferBytesOf((await this.gpu()).device.limits) },
      });
      if (result.intermediates) intermediates = { ...result.intermediates };
      const encodeImageStart = performance.now();
      images.push(await encodeImage(result.image, valid.outputFormat, valid.quality));
      denoiseMs += result.timings.denoiseMs;
      decodeMs += result.timings.decodeMs + (performance.now() - encodeImageStart);
    }
    progress({ stage: 'done' });
    return {
      images,
      seed: valid.seed,
      width: valid.width,
      height: valid.height,
      steps: family.steps,
      ...(family.guidance === undefined ? {} : { guidance: family.guidance }),
      timings: { loadMs: loadInfo.loadMs, encodeMs, denoiseMs, decodeMs, totalMs: performance.now() - started },
      warnings,
      ...(valid.strength !== undefined ? { strength: valid.strength } : {}),
      ...(intermediates ? { intermediates } : {}),
    };
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
