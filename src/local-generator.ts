/**
 * The worker-backed local generator: `createLocalGenerator()` runs a web model package
 * on this device, in the generator worker (WebGPU), and talks to its `Engine` through a
 * watched connection (worker-connection.ts: a dead worker is noticed, pending calls
 * reject with WorkerCrashedError, the next call starts a fresh worker). Progress
 * callbacks cross as Comlink proxies, images come back as Blobs, cancellation crosses as
 * a request id, and errors are rebuilt as their own classes (with their fields).
 *
 * Privacy: with a local model the only requests are for the model package's files (and
 * the library's own worker/wasm files); the prompt never leaves this device.
 */
import * as Comlink from 'comlink';
import type { GenerateParams, GenerateResult, LoadOptions } from './api-types.ts';
import { withDecodedImage } from './image/init-request.ts';
import { FluxError, GpuOutOfMemoryError, InvalidParameterError, throwIfAborted } from './errors.ts';
import type { MemoryOption, MemoryPlan } from './engine/memory-plan.ts';
import type { DeviceCheckOptions, DeviceReport, EngineApi, EngineDecodeRequest, EngineDecodeResult, EngineGenerateRequest, EngineSettings, LoadedModel, StoredModel } from './engine/protocol.ts';
import { checkLocalGeneratorOptions } from './generator-options.ts';
import { packageUrlOf } from './package/package-url.ts';
import type { ProgressCallback, ProgressEvent } from './progress.ts';
import { checkCallOptions, requestFields, validateRequest, type ValidRequest } from './request.ts';
import type { TokenCount } from './text/token-count.ts';
import { requestPersistentStorage } from './store/storage-quota.ts';
import { EngineConnection } from './worker-connection.ts';
import { resolveWasmUrl, startGeneratorWorker, type WorkerLocation } from './engine/worker-url.ts';

/** Options of `createLocalGenerator`. */
export interface LocalGeneratorOptions extends WorkerLocation {
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
  /**
   * A worker running `workers/generator.worker.ts` instead of the bundled one, or a
   * function that starts one (called again for a fresh worker after one died; with a
   * Worker, the bundled worker replaces it); `workerUrl` is then not used.
   */
  worker?: Worker | (() => Worker);
}

/** A text-to-image generator bound to one model package, running it on this device. */
export interface LocalGenerator {
  /** The package URL (absolute, ending in "/"). */
  readonly model: string;
  /**
   * Generates `numImages` images. Loads (downloads, verifies, compiles) the model first
   * when needed, reporting `download` and `load` progress. Calls queue: one runs at a time.
   * @throws InvalidParameterError naming a field that is out of range
   * @throws DeviceCapabilityError when the device cannot run the model or the size
   * @throws DeviceLostError when the GPU device was lost meanwhile (the next call makes a new one)
   * @throws WorkerCrashedError when the worker died meanwhile (the next call starts a new one)
   * @throws AbortedError when `params.signal` aborts
   */
  generate(params: GenerateParams | ValidRequest): Promise<GenerateResult>;
  /**
   * Decodes latents with the model's VAE (e.g. saved `vae_input` latents): whole where the
   * GPU's buffer limits allow, else in diffusers-style tiles; `tilePx` forces a tile size
   * (null: one whole decode). Queued and cancellable like `generate`.
   * @throws InvalidParameterError naming a bad field
   * @throws AbortedError when `params.signal` aborts
   */
  decodeLatents(params: DecodeLatentsParams): Promise<EngineDecodeResult>;
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
   * at `options`' size (default 1024×1024) and what the device gave; downloads only the
   * manifest (once per session).
   */
  checkDevice(options?: DeviceCheckOptions): Promise<DeviceReport>;
  /**
   * How a prompt fits the model's text encoders (CLIP 77 tokens; T5 256 or 512): ids,
   * counts and the text each one drops. Reads only the manifest and the tokenizer files
   * (from storage, else a few MB, then stored); runs beside a generation.
   * @throws ModelPackageError when the package has no text encoders
   */
  countTokens(prompt: string): Promise<TokenCount>;
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
 * worker). The worker starts on the first call; nothing is downloaded until `load()`,
 * `generate()` or `checkDevice()`.
 *
 * ```ts
 * const generator = createLocalGenerator({ model: './models/flux1-schnell-q4/' });
 * const { images, seed } = await generator.generate({ prompt: 'a lighthouse at dusk', width: 512, height: 512 });
 * ```
 * @throws InvalidParameterError naming an option that is not allowed
 */
export function createLocalGenerator(options: LocalGeneratorOptions): LocalGenerator {
  const checked = checkLocalGeneratorOptions(options);
  const model = packageUrlOf(checked.model);
  let given = checked.worker;
  const start = (): Worker => {
    if (typeof given === 'function') return given();
    const worker = given ?? startWorker({ workerUrl: checked.workerUrl });
    given = undefined; // a worker given as an object is used once; after its death the bundled one starts
    return worker;
  };
  const wasmUrl = checked.wasmPaths === undefined ? undefined : resolveWasmUrl(checked.wasmPaths);
  const connection = new EngineConnection(start, wasmUrl ? { ...checked.engine, wasmUrl } : checked.engine);
  const rules = { sizes: checked.allowAnySize ? ('any' as const) : ('web' as const) };

  /**
   * One cancellable engine call. A signal cannot cross to the worker: a request id does
   * (`prefix` + a unique part), and an abort cancels that id there. Progress events are
   * passed on, their stage recorded (a crash report names it).
   */
  const cancellableCall = async <T>(
    operation: string,
    prefix: string,
    { signal, onProgress }: { signal?: AbortSignal; onProgress?: ProgressCallback },
    run: (engine: Comlink.Remote<EngineApi>, id: string, progress: ProgressCallback) => Promise<T>,
  ): Promise<T> => {
    const id = `${prefix}${Date.now().toString(36)}-${++requestCounter}-${Math.random().toString(36).slice(2, 8)}`;
    let stop: (() => void) | undefined;
    try {
      return await connection.call(operation, (engine, setStage) => {
        const onAbort = () => void engine.cancel(id).catch(() => undefined);
        signal?.addEventListener('abort', onAbort, { once: true });
        stop = () => signal?.removeEventListener('abort', onAbort);
        const progress = Comlink.proxy((event: ProgressEvent) => {
          if (event.stage !== 'done') setStage(event.stage);
          onProgress?.(event);
        });
        return run(engine, id, progress);
      });
    } finally {
      stop?.();
    }
  };

  return {
    model,

    async generate(params: GenerateParams | ValidRequest): Promise<GenerateResult> {
      // A picture (image-to-image) is decoded and fitted here: only its RGB bytes go on.
      const request = validateRequest(await withDecodedImage(params, rules, (params as GenerateParams | undefined)?.signal), rules);
      const { signal, onProgress } = params as GenerateParams;
      throwIfAborted(signal);
      // The checked fields only: a plain, cloneable object (the worker checks it again).
      // providerOptions are for hosted providers only; they stay on this side.
      const { providerOptions: _ignored, ...fields } = requestFields(request);
      const wire: EngineGenerateRequest = { ...fields, model, allowAnySize: checked.allowAnySize, memory: checked.memory };
      // The first generate() may download the model; persistence can only be asked for here.
      void requestPersistentStorage();
      for (;;) {
        try {
          const result = await cancellableCall('generate', '', { signal, onProgress }, (engine, id, progress) => engine.generate(id, wire, progress));
          return { ...result, warnings: [...request.warnings, ...result.warnings], backend: 'local', backendReason: LOCAL_REASON };
        } catch (error) {
          if (!(error instanceof GpuOutOfMemoryError)) throw error;
          // Out of GPU memory: onnxruntime's wasm in that worker is unusable, so a fresh
          // worker runs the request again under the next lighter plan (weights are stored).
          connection.replaceWorker(new FluxError('the generator worker was replaced after a GPU out-of-memory failure'));
          if (!error.fallbackPlan || signal?.aborted) throw error;
          wire.memory = error.fallbackPlan as MemoryPlan;
          wire.memoryFallback = error.message;
        }
      }
    },

    async decodeLatents(params: DecodeLatentsParams): Promise<EngineDecodeResult> {
      if (params === null || typeof params !== 'object') throw new InvalidParameterError('params', 'an object such as { latents, latentHeight, latentWidth }', params, 'wrong-type');
      const { signal, onProgress, latents, latentHeight, latentWidth, tilePx, outputFormat, quality, keepOutput } = params;
      checkCallOptions({ signal, onProgress });
      throwIfAborted(signal);
      // Only the known fields cross (the rest of an object might not be cloneable); the worker checks them.
      const wire: EngineDecodeRequest = { model, latents, latentHeight, latentWidth, tilePx, outputFormat, quality, keepOutput };
      return cancellableCall('decode', 'decode-', { signal, onProgress }, (engine, id, progress) => engine.decodeLatents(id, wire, progress));
    },

    async load(first?: ProgressCallback | LoadOptions, second?: LoadOptions): Promise<LoadedModel> {
      const { signal, onProgress } = loadOptions(first, second);
      throwIfAborted(signal);
      // Persistent storage can only be requested from the page, not from the worker.
      void requestPersistentStorage();
      return cancellableCall('load', 'load-', { signal, onProgress }, (engine, id, progress) => engine.load(model, progress, id, { memory: checked.memory }));
    },

    checkDevice: (check: DeviceCheckOptions = {}) => connection.call('checkDevice', (engine) => engine.checkDevice(model, { memory: checked.memory, ...check })),
    countTokens: (prompt: string) => connection.call('countTokens', (engine) => engine.countTokens(model, prompt)),
    listModels: () => connection.call('listModels', (engine) => engine.listModels()),
    deleteModel: (url?: string) => {
      const target = url === undefined ? model : packageUrlOf(url, undefined, 'url');
      return connection.call('deleteModel', (engine) => engine.deleteModel(target));
    },

    dispose: () => connection.close(new FluxError('this generator was disposed', 'disposed'), (engine) => engine.dispose()),
  };
}

/**
 * The options of `load()` from either call form: `load(options)` or `load(onProgress, options)`.
 * @throws InvalidParameterError naming `options`, `signal` or `onProgress` when it has the wrong type
 */
export function loadOptions(first?: ProgressCallback | LoadOptions | null, second?: LoadOptions | null): LoadOptions {
  let options: LoadOptions;
  if (typeof first === 'function') {
    if (second !== undefined && (second === null || typeof second !== 'object' || Array.isArray(second))) throw new InvalidParameterError('options', 'an object such as { signal }', second, 'wrong-type');
    options = { ...second, onProgress: first };
  } else if (first === undefined) {
    if (second !== undefined && (second === null || typeof second !== 'object' || Array.isArray(second))) throw new InvalidParameterError('options', 'an object such as { signal }', second, 'wrong-type');
    options = { ...(second ?? {}) };
  } else if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    options = first;
  } else {
    throw new InvalidParameterError('onProgress', 'a function, or an options object { signal, onProgress }', first, 'wrong-type');
  }
  for (const key of Object.keys(options)) {
    if (key !== 'signal' && key !== 'onProgress' && (options as Record<string, unknown>)[key] !== undefined) {
      throw new InvalidParameterError(key, 'not an option of load() (its options: signal, onProgress)', (options as Record<string, unknown>)[key], 'unknown-field');
    }
  }
  checkCallOptions(options);
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
