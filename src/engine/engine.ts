/**
 * The local engine, run inside the generator worker (no DOM): loads a web model package
 * (manifest → device check → weights from the WeightStore → onnxruntime sessions on one
 * GPUDevice) and generates images with the same pipeline code the Node CLI runs.
 *
 * Calls that use the model (`load`, `generate`, `deleteModel` of the loaded package) run
 * one at a time in arrival order; `cancel(id)` aborts a queued or running generation.
 */
import { releaseProxy } from 'comlink';
import { AbortedError, DeviceCapabilityError, InvalidParameterError } from '../errors.ts';
import { graphByRole, hasTextEncoders, type GraphEntry, type Manifest } from '../package/manifest.ts';
import type { ProgressCallback, ProgressEvent } from '../progress.ts';
import { runFluxPipeline } from '../pipeline/flux-pipeline.ts';
import { vaeOutputToRgb } from '../pipeline/image.ts';
import { decodeLatents } from '../pipeline/vae-decode.ts';
import type { VaeTileLimits } from '../pipeline/vae-tiling.ts';
import { encodePrompt, loadTokenizers, type PackageTokenizers } from '../pipeline/text-encoding.ts';
import { WeightStore, type WeightStoreOptions } from '../store/weight-store.ts';
import { assertPackageFits, capabilityError, createGpuContext, describeAdapter, formatBytes, maxPixelsFor, packageShortfalls, type GpuContext } from './gpu-device.ts';
import { encodeImage } from './image-encoding.ts';
import { fetchManifest, packageUrlOf } from './manifest-fetch.ts';
import { configureOrt, type OrtSettings } from './ort.ts';
import { validateDecodeRequest, type ValidDecodeRequest } from './decode-request.ts';
import type { DeviceReport, EngineApi, EngineDecodeRequest, EngineDecodeResult, EngineSettings, EngineGenerateRequest, EngineGenerateResult, LoadedModel, StoredModel } from './protocol.ts';
import { imageSeed, validateRequest, type ValidRequest } from './request.ts';
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
  };
  return manifest.graphs.map((g, i) => ({ g, i })).sort((a, b) => rank[a.g.role] - rank[b.g.role] || a.i - b.i).map(({ g }) => g);
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
    created.catch(() => {
      if (this.gpuContext === created) this.gpuContext = undefined;
    });
    return created;
  }

  /** Changes options (threads, log level, session residency); only before the first load. */
  async configure(settings: EngineSettings): Promise<void> {
    if (this.loaded || this.gpuContext) throw new InvalidParameterError('configure', 'called before the first load or device check', 'too late');
    this.options = { ...this.options, ...settings };
  }

  async checkDevice(model?: string): Promise<DeviceReport> {
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
    const manifest = await fetchManifest(url);
    const shortfalls = await packageShortfalls(manifest, gpu);
    return {
      ...report,
      model: { url, modelId: manifest.modelId, weights: manifest.weights, totalFileBytes: manifest.files.reduce((sum, f) => sum + f.size, 0) },
      modelId: manifest.modelId,
      ok: shortfalls.length === 0,
      shortfalls,
      reasons: shortfalls.map((s) => `${s.capability}: ${s.detail}`),
      maxPixels: maxPixelsFor(manifest, gpu.device.limits),
    };
  }

  load(model: string, onProgress?: ProgressCallback): Promise<LoadedModel> {
    return this.queue.run(() => this.loadNow(packageUrlOf(model), safeProgress(onProgress))).finally(() => releaseCallback(onProgress));
  }

  generate(id: string, request: EngineGenerateRequest, onProgress?: ProgressCallback): Promise<EngineGenerateResult> {
    // Validated before waiting in the queue or downloading anything.
    return this.cancellable(id, onProgress, () => validateRequest(request), (valid, signal, progress) => this.generateNow(request, valid, signal, progress));
  }

  decodeLatents(id: string, request: EngineDecodeRequest, onProgress?: ProgressCallback): Promise<EngineDecodeResult> {
    return this.cancellable(id, onProgress, () => validateDecodeRequest(request), (valid, signal, progress) => this.decodeNow(request.model, valid, signal, progress));
  }

  /** Runs a validated request in the queue under `id`, so that `cancel(id)` rejects it at once. */
  private async cancellable<V, T>(
    id: string,
    onProgress: ProgressCallback | undefined,
    validate: () => V,
    run: (valid: V, signal: AbortSignal, progress: (event: ProgressEvent) => void) => Promise<T>,
  ): Promise<T> {
    if (this.running.has(id)) throw new InvalidParameterError('id', 'unique among running requests', id);
    const controller = new AbortController();
    this.running.set(id, controller);
    try {
      const valid = validate();
      const task = this.queue.run(() => run(valid, controller.signal, safeProgress(onProgress)));
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
    const manifest = await fetchManifest(url, signal);
    // The device and request checks come before any weight request.
    await assertPackageFits(manifest, gpu);
    if (request) this.preflight(manifest, request, gpu);
    throwIfAborted(signal);
    configureOrt(this.options);
    await this.store.ensureFiles(url, manifest.files, { signal, onProgress: progress, modelId: manifest.modelId });
    const store = this.store;
    const runtime = new WebModelRuntime(manifest, { get: (path) => store.getFile(url, path) }, gpu.device, this.options);
    try {
      const graphs = this.options.keepSessions === false ? [] : loadOrder(manifest);
      for (const [index, graph] of graphs.entries()) {
        throwIfAborted(signal);
        progress({ stage: 'load', graph: graph.name, index: index + 1, count: graphs.length });
        await runtime.session(graph);
      }
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
    const started = performance.now();
    const loadInfo = await this.loadNow(packageUrlOf(request.model), progress, signal, valid);
    const loaded = this.loaded!;
    const { runtime } = loaded;
    const warnings = [...valid.warnings];

    // Text conditioning, shared by every image of the request.
    throwIfAborted(signal);
    const encodeStart = performance.now();
    let conditioning: { promptEmbeds: Float32Array; pooledPromptEmbeds: Float32Array };
    if (valid.promptEmbeddings) {
      conditioning = valid.promptEmbeddings;
    } else {
      progress({ stage: 'encode' });
      const encoded = await encodePrompt(runtime, loaded.tokenizers!, valid.prompt!, signal);
      if (encoded.clipDroppedText) warnings.push(`CLIP sees 77 tokens; these words were dropped for it: "${encoded.clipDroppedText}"`);
      if (encoded.t5DroppedText) warnings.push(`T5 sees 256 tokens; these words were dropped: "${encoded.t5DroppedText}"`);
      conditioning = encoded;
    }
    const encodeMs = performance.now() - encodeStart;

    const vaeLimits = this.vaeLimits(await this.gpu());
    const images: Blob[] = [];
    let intermediates: Record<string, Float32Array> | undefined;
    let denoiseMs = 0;
    let decodeMs = 0;
    for (let i = 0; i < valid.numImages; i++) {
      const result = await runFluxPipeline(runtime, {
        ...conditioning,
        width: valid.width,
        height: valid.height,
        steps: valid.steps,
        seed: imageSeed(valid.seed, i),
        signal,
        onProgress: progress,
        image: i + 1,
        images: valid.numImages,
        keepIntermediates: request.keepIntermediates === true && i === 0,
        preview: request.preview === true,
        vaeTiling: { limits: vaeLimits },
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
      steps: valid.steps,
      timings: { loadMs: loadInfo.loadMs, encodeMs, denoiseMs, decodeMs, totalMs: performance.now() - started },
      warnings,
      ...(intermediates ? { intermediates } : {}),
    };
  }

  /** Decodes given latents with the loaded package's VAE (see `EngineApi.decodeLatents`). */
  private async decodeNow(model: string, valid: ValidDecodeRequest, signal: AbortSignal, progress: (event: ProgressEvent) => void): Promise<EngineDecodeResult> {
    throwIfAborted(signal);
    const started = performance.now();
    const loadInfo = await this.loadNow(packageUrlOf(model), progress, signal);
    progress({ stage: 'decode', image: 1, images: 1 });
    const decodeStart = performance.now();
    const { output, tilePx } = await decodeLatents(this.loaded!.runtime, { ...valid, limits: this.vaeLimits(await this.gpu()), signal });
    const image = await encodeImage(vaeOutputToRgb(output.data, output.height, output.width), valid.outputFormat, valid.quality);
    progress({ stage: 'done' });
    const decodeMs = performance.now() - decodeStart;
    return { image, width: output.width, height: output.height, tilePx, timings: { loadMs: loadInfo.loadMs, decodeMs, totalMs: performance.now() - started }, ...(valid.keepOutput ? { output: output.data } : {}) };
  }

  /** What the VAE's tile choice must respect on this device: its largest buffer. */
  private vaeLimits(gpu: GpuContext): VaeTileLimits {
    return { maxBufferBytes: Math.min(gpu.device.limits.maxBufferSize, gpu.device.limits.maxStorageBufferBindingSize) };
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
