/**
 * The page side of the local generator: `createLocalGenerator()` starts the generator worker and
 * talks to its `Engine` through Comlink. Progress callbacks cross as Comlink proxies,
 * images come back as Blobs, cancellation crosses as a request id, and errors are
 * rebuilt as their own classes (with their fields) on this side.
 *
 * Privacy: with a local model the only requests are for the model package's files (and
 * the library's own worker/wasm files); the prompt never leaves this device.
 */
import * as Comlink from 'comlink';
import type { GenerateParams, GenerateResult, LoadOptions } from './api-types.ts';
import { AbortedError, FluxError, GpuOutOfMemoryError, InvalidParameterError } from './errors.ts';
import type { ProgressCallback } from './progress.ts';
import { fromWireError, isWireError, type DeviceCheckOptions, type DeviceReport, type EngineApi, type EngineGenerateRequest, type EngineSettings, type LoadedModel, type StoredModel } from './engine/protocol.ts';
import { checkMemoryOption, type MemoryOption } from './engine/memory-plan.ts';
import { packageUrlOf } from './engine/manifest-fetch.ts';
import { requestPersistentStorage } from './store/storage-quota.ts';
import { resolveWasmUrl, startGeneratorWorker, type WorkerLocation } from './engine/worker-url.ts';
import { workerLoadError } from './engine/library-files.ts';

/** Options of `createLocalGenerator`. */
export interface GeneratorOptions extends WorkerLocation {
  /** URL of the web model package folder (or its manifest.json); relative URLs resolve against the page. */
  model: string;
  /**
   * Accept any width/height that is a multiple of 16 from 16 to 2048 instead of the web
   * API's 256–1440 (for tiny test models and golden checks). The GPU's buffer limits are
   * checked either way.
   */
  allowAnySize?: boolean;
  /** Engine settings: wasm threads, onnxruntime logging, low-memory session handling. */
  engine?: EngineSettings;
  /**
   * GPU memory plan: 'auto' (default: the fastest that fits the measured GPU memory),
   * 'resident' (every session kept: fastest repeats), 'staged' (text encoders, transformer
   * and VAE one after another), 'streaming' (one graph at a time: least memory, slowest).
   */
  memory?: MemoryOption;
  /** A worker running `workers/generator.worker.ts` (e.g. from `startWorker()`), instead of starting one; `workerUrl` is then not used. */
  worker?: Worker;
}

/** A text-to-image generator bound to one model package. */
export interface Generator {
  /** The package URL (absolute, ending in "/"). */
  readonly model: string;
  /**
   * Generates `numImages` images. Loads (downloads, verifies, compiles) the model first
   * when needed, reporting `download` and `load` progress. Calls queue: one runs at a time.
   * @throws InvalidParameterError naming a field that is out of range
   * @throws DeviceCapabilityError when the device cannot run the model or the size
   * @throws AbortedError when `params.signal` aborts
   */
  generate(params: GenerateParams): Promise<GenerateResult>;
  /**
   * Downloads (once; resumable, with automatic retries) and loads the model:
   * `load()`, `load(onProgress)`, `load({signal, onProgress})` or `load(onProgress, {signal})`.
   * @throws AbortedError when `signal` aborts (bytes stored so far are kept)
   * @throws InvalidParameterError naming `signal` or `onProgress` when it has the wrong type
   */
  load(options?: LoadOptions): Promise<LoadedModel>;
  load(onProgress?: ProgressCallback, options?: LoadOptions): Promise<LoadedModel>;
  /**
   * What the device offers and whether the model fits, with the GPU memory each plan needs
   * at `options`' size (default 1024×1024) and what the device gave; downloads only the manifest.
   */
  checkDevice(options?: DeviceCheckOptions): Promise<DeviceReport>;
  /** Packages kept in this browser's storage. */
  listModels(): Promise<StoredModel[]>;
  /** Deletes a stored package (default: this generator's model). */
  deleteModel(url?: string): Promise<void>;
  /** Stops the worker and frees the GPU; the generator cannot be used afterwards. */
  dispose(): Promise<void>;
}

const LOCAL_REASON = 'The model runs on this device (WebGPU); nothing but the model files is downloaded.';

let requestCounter = 0;

/**
 * Creates a generator that runs a web model package on this device (WebGPU, in a
 * worker). The worker starts at once; nothing is downloaded until `load()`,
 * `generate()` or `checkDevice()`.
 *
 * ```ts
 * const generator = createLocalGenerator({ model: './models/flux1-schnell-q4/' });
 * const { images, seed } = await generator.generate({ prompt: 'a lighthouse at dusk', width: 512, height: 512 });
 * ```
 */
export function createLocalGenerator(options: GeneratorOptions): Generator {
  if (!options || typeof options.model !== 'string' || options.model.length === 0) {
    throw new FluxError('a local generator needs { model: "<URL of a web model package>" }');
  }
  const model = packageUrlOf(options.model);
  const memory = checkMemoryOption(options.memory);
  const wasmUrl = options.wasmPaths === undefined ? undefined : resolveWasmUrl(options.wasmPaths);
  let worker = options.worker ?? startWorker({ workerUrl: options.workerUrl });
  let engine = Comlink.wrap<EngineApi>(worker);
  let bridge = new WorkerBridge(worker);
  const settings = wasmUrl ? { ...options.engine, wasmUrl } : options.engine;
  let configured = settings ? bridge.call(() => engine.configure(settings)) : Promise.resolve();
  let disposed = false;

  /**
   * Replaces the worker after a GPU out-of-memory failure (onnxruntime's wasm is corrupt
   * afterwards): a fresh worker with the same engine settings; its weights are in storage.
   */
  const replaceWorker = () => {
    engine[Comlink.releaseProxy]();
    worker.terminate();
    bridge.fail(new FluxError('the generator worker was replaced after a GPU out-of-memory failure'));
    worker = startWorker({ workerUrl: options.workerUrl });
    engine = Comlink.wrap<EngineApi>(worker);
    bridge = new WorkerBridge(worker);
    configured = settings ? bridge.call(() => engine.configure(settings)) : Promise.resolve();
  };

  const call = async <T>(task: () => Promise<T>): Promise<T> => {
    if (disposed) throw new FluxError('this generator was disposed');
    await configured;
    return bridge.call(task);
  };

  return {
    model,

    async generate(params: GenerateParams): Promise<GenerateResult> {
      const { signal, onProgress, prompt, promptEmbeddings, width, height, steps, seed, numImages, outputFormat, preview } = params ?? ({} as GenerateParams);
      if (signal?.aborted) throw new AbortedError();
      const id = `${Date.now().toString(36)}-${++requestCounter}-${Math.random().toString(36).slice(2, 8)}`;
      // Only the known fields cross (the rest of an object might not be cloneable).
      const request: EngineGenerateRequest = { model, allowAnySize: options.allowAnySize, prompt, promptEmbeddings, width, height, steps, seed, numImages, outputFormat, preview, memory };
      const progress = onProgress ? Comlink.proxy(onProgress) : undefined;
      // The first generate() may download the model; persistence can only be asked for here.
      void requestPersistentStorage();
      const onAbort = () => void engine.cancel(id).catch(() => undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for (;;) {
          try {
            const result = await call(() => engine.generate(id, request, progress));
            return { ...result, backend: 'local', backendReason: LOCAL_REASON };
          } catch (error) {
            if (!(error instanceof GpuOutOfMemoryError)) throw error;
            // Out of GPU memory: a fresh worker, and the request again under the lighter plan.
            replaceWorker();
            if (!error.fallbackPlan || signal?.aborted) throw error;
            request.memory = error.fallbackPlan as EngineGenerateRequest['memory'];
            request.memoryFallback = error.message;
          }
        }
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },

    async load(first?: ProgressCallback | LoadOptions, second?: LoadOptions): Promise<LoadedModel> {
      const { signal, onProgress } = loadOptions(first, second);
      if (signal?.aborted) throw new AbortedError();
      // Persistent storage can only be requested from the page, not from the worker.
      void requestPersistentStorage();
      // The signal cannot cross to the worker: an id does, and an abort cancels it there.
      const id = `load-${Date.now().toString(36)}-${++requestCounter}-${Math.random().toString(36).slice(2, 8)}`;
      const onAbort = () => void engine.cancel(id).catch(() => undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await call(() => engine.load(model, onProgress ? Comlink.proxy(onProgress) : undefined, id, { memory }));
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },

    checkDevice: (checkOptions?: DeviceCheckOptions) => call(() => engine.checkDevice(model, { memory, ...checkOptions })),
    listModels: () => call(() => engine.listModels()),
    deleteModel: (url?: string) => call(() => engine.deleteModel(url === undefined ? model : packageUrlOf(url))),

    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      try {
        await Promise.race([bridge.call(() => engine.dispose()), new Promise((done) => setTimeout(done, 2000))]);
      } catch {
        // The worker is terminated either way.
      }
      engine[Comlink.releaseProxy]();
      worker.terminate();
      bridge.fail(new FluxError('this generator was disposed'));
    },
  };
}

/**
 * The options of `load()` from either call form: `load(options)` or `load(onProgress, options)`.
 * @throws InvalidParameterError naming `signal` or `onProgress` when it has the wrong type
 */
export function loadOptions(first?: ProgressCallback | LoadOptions | null, second?: LoadOptions | null): LoadOptions {
  let options: LoadOptions;
  if (typeof first === 'function') {
    if (second !== undefined && (second === null || typeof second !== 'object')) throw new InvalidParameterError('options', 'an object such as { signal }', second);
    options = { ...second, onProgress: first };
  } else if (first === undefined) {
    options = { ...(second ?? {}) };
  } else if (first !== null && typeof first === 'object') {
    options = first;
  } else {
    throw new InvalidParameterError('onProgress', 'a function, or an options object { signal, onProgress }', first);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidParameterError('signal', 'an AbortSignal', options.signal);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new InvalidParameterError('onProgress', 'a function', options.onProgress);
  return options;
}

/**
 * Starts a generator worker (the one bundled with the library, or `workerUrl`); with
 * `wasmPaths`, onnxruntime in it loads its wasm from there. Hand it to `createGenerator`
 * as `worker` to share one worker between generators.
 * @throws InvalidParameterError naming `workerUrl` or `wasmPaths` when one is not a URL
 */
export function startWorker(where: WorkerLocation = {}): Worker {
  return startGeneratorWorker(where);
}

/**
 * Calls into the worker: rebuilds errors as their classes, and rejects every pending
 * call when the worker itself fails (e.g. its script cannot be loaded), which Comlink
 * alone would leave pending forever.
 */
class WorkerBridge {
  private readonly pending = new Set<(error: Error) => void>();
  private failure?: Error;

  constructor(worker: Worker) {
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      this.fail(event.message ? new FluxError(`the generator worker failed: ${event.message}`) : workerLoadError());
    });
    worker.addEventListener('messageerror', () => this.fail(new FluxError('the generator worker sent a message that could not be read')));
  }

  async call<T>(task: () => Promise<T>): Promise<T> {
    if (this.failure) throw this.failure;
    let reject!: (error: Error) => void;
    const failed = new Promise<never>((_, r) => (reject = r));
    this.pending.add(reject);
    try {
      return await Promise.race([task(), failed]);
    } catch (error) {
      throw isWireError(error) && !(error instanceof FluxError) ? fromWireError(wireOf(error)) : error;
    } finally {
      this.pending.delete(reject);
    }
  }

  fail(error: Error): void {
    this.failure ??= error;
    for (const reject of this.pending) reject(error);
    this.pending.clear();
  }
}

/** Comlink delivers a worker error as an Error carrying `name`, `message` and `fields`. */
function wireOf(error: { name: string; message: string; fields?: Record<string, unknown> }) {
  return { name: error.name, message: error.message, fields: error.fields ?? {} };
}
