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
import type { GenerateParams, GenerateResult } from './api-types.ts';
import { AbortedError, FluxError } from './errors.ts';
import type { ProgressCallback } from './progress.ts';
import {
  fromWireError,
  isWireError,
  type DeviceReport,
  type EngineApi,
  type EngineDecodeRequest,
  type EngineDecodeResult,
  type EngineGenerateRequest,
  type EngineSettings,
  type LoadedModel,
  type StoredModel,
} from './engine/protocol.ts';
import { packageUrlOf } from './engine/manifest-fetch.ts';
import { requestPersistentStorage } from './store/storage-quota.ts';
import workerUrl from '../workers/generator.worker.ts?worker&url';

/** Options of `createLocalGenerator`. */
export interface GeneratorOptions {
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
  /** A worker running `workers/generator.worker.ts`, instead of starting the bundled one. */
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
   * Decodes latents with the model's VAE (e.g. saved `vae_input` latents): whole where the
   * GPU's buffer limits allow, else in diffusers-style tiles; `tilePx` forces a tile size.
   * Queued and cancellable like `generate`.
   * @throws InvalidParameterError naming a bad field
   * @throws AbortedError when `params.signal` aborts
   */
  decodeLatents(params: DecodeLatentsParams): Promise<EngineDecodeResult>;
  /** Downloads (once; resumable) and loads the model. */
  load(onProgress?: ProgressCallback): Promise<LoadedModel>;
  /** What the device offers and whether the model fits; downloads only the manifest. */
  checkDevice(): Promise<DeviceReport>;
  /** Packages kept in this browser's storage. */
  listModels(): Promise<StoredModel[]>;
  /** Deletes a stored package (default: this generator's model). */
  deleteModel(url?: string): Promise<void>;
  /** Stops the worker and frees the GPU; the generator cannot be used afterwards. */
  dispose(): Promise<void>;
}

/** What `decodeLatents` takes (see `EngineDecodeRequest`). */
export interface DecodeLatentsParams extends Omit<EngineDecodeRequest, 'model'> {
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
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
  const worker = options.worker ?? startWorker();
  const engine = Comlink.wrap<EngineApi>(worker);
  const bridge = new WorkerBridge(worker);
  const configured = options.engine ? bridge.call(() => engine.configure(options.engine!)) : Promise.resolve();
  let disposed = false;

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
      const request: EngineGenerateRequest = { model, allowAnySize: options.allowAnySize, prompt, promptEmbeddings, width, height, steps, seed, numImages, outputFormat, preview };
      const progress = onProgress ? Comlink.proxy(onProgress) : undefined;
      // The first generate() may download the model; persistence can only be asked for here.
      void requestPersistentStorage();
      const onAbort = () => void engine.cancel(id).catch(() => undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const result = await call(() => engine.generate(id, request, progress));
        return { ...result, backend: 'local', backendReason: LOCAL_REASON };
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },

    async decodeLatents(params: DecodeLatentsParams): Promise<EngineDecodeResult> {
      const { signal, onProgress, latents, latentHeight, latentWidth, tilePx, outputFormat, quality, keepOutput } = params ?? ({} as DecodeLatentsParams);
      if (signal?.aborted) throw new AbortedError();
      const id = `${Date.now().toString(36)}-${++requestCounter}-${Math.random().toString(36).slice(2, 8)}`;
      const request: EngineDecodeRequest = { model, latents, latentHeight, latentWidth, tilePx, outputFormat, quality, keepOutput };
      const onAbort = () => void engine.cancel(id).catch(() => undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await call(() => engine.decodeLatents(id, request, onProgress ? Comlink.proxy(onProgress) : undefined));
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },

    async load(onProgress?: ProgressCallback): Promise<LoadedModel> {
      // Persistent storage can only be requested from the page, not from the worker.
      void requestPersistentStorage();
      return call(() => engine.load(model, onProgress ? Comlink.proxy(onProgress) : undefined));
    },

    checkDevice: () => call(() => engine.checkDevice(model)),
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
 * Starts the generator worker from the bundled worker file beside this module. A page
 * may import the library from another origin (a CDN); browsers refuse cross-origin
 * worker URLs, so the worker then starts from a same-origin blob that imports the real
 * worker module (CORS applies, and the worker's own relative URLs, e.g. the wasm, still
 * resolve against the CDN).
 */
export function startWorker(): Worker {
  const url = new URL(workerUrl, import.meta.url);
  const options: WorkerOptions = { type: 'module', name: 'flux-webgpu-generator' };
  if (typeof location === 'undefined' || url.origin === location.origin) return new Worker(url, options);
  const bootstrap = URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' }));
  try {
    return new Worker(bootstrap, options);
  } finally {
    // The worker has fetched the blob by the time it runs; a short delay keeps slow starts safe.
    setTimeout(() => URL.revokeObjectURL(bootstrap), 60_000);
  }
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
      this.fail(new FluxError(`the generator worker failed: ${event.message || 'its script could not be loaded'}`));
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
