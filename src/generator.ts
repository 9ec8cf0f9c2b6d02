/**
 * `createGenerator()`: the library's entry. One generator routes each request to this
 * device (the WebGPU worker of client.ts) or to a hosted provider, by privacy mode, and
 * offers BFL- and OpenAI-shaped facades over the same routing.
 */
import type { GenerateParams, GenerateResult, LoadOptions } from './api-types.ts';
import { DEFAULTS } from './defaults.ts';
import { createLocalGenerator, type Generator as LocalGenerator, type GeneratorOptions as LocalOptions } from './client.ts';
import type { DeviceCheckOptions, DeviceReport, LoadedModel, StoredModel } from './engine/protocol.ts';
import { validateRequest } from './engine/request.ts';
import { checkWorkerLocation } from './engine/worker-url.ts';
import { AbortedError, DeviceCapabilityError, FluxError, InvalidParameterError } from './errors.ts';
import { createBflFacade, type BflFacade } from './facades/bfl-facade.ts';
import { createOpenAIImagesFacade, type OpenAIImagesFacade } from './facades/openai-facade.ts';
import type { ProgressCallback } from './progress.ts';
import { createProvider, type AnyProviderConfig, type ImageEngine } from './providers/index.ts';
import { decideRoute, PRIVACY_MODES, type PrivacyMode, type RouteDecision } from './routing.ts';

/** Options of `createGenerator`. */
export interface GeneratorOptions extends Partial<Omit<LocalOptions, 'model'>> {
  /** URL of the web model package. Required unless `privacy` is 'remote-only'. */
  model?: string;
  /**
   * 'local-only' (default without providers): never sends anything anywhere.
   * 'prefer-local' (default with providers): this device when it can, else the first provider.
   * 'remote-only': always the first provider.
   */
  privacy?: PrivacyMode;
  /** Hosted providers in order of preference (configs or ready engines). */
  providers?: (AnyProviderConfig | ImageEngine)[];
}

/** A text-to-image generator. */
export interface Generator {
  readonly privacy: PrivacyMode;
  readonly providers: readonly ImageEngine[];
  /**
   * Generates images where `route()` says. The result's `backend` and `backendReason`
   * say where it ran and why.
   * @throws InvalidParameterError naming a field out of range (nothing is sent)
   * @throws DeviceCapabilityError in local-only mode on a device that cannot run the model
   * @throws AbortedError when `params.signal` aborts
   */
  generate(params: GenerateParams): Promise<GenerateResult>;
  /**
   * Where a generation of `size` (default 1024×1024) will run and why (checks the device
   * and its GPU memory for that size; downloads only the manifest).
   */
  route(size?: { width?: number; height?: number }): Promise<RouteDecision>;
  /** Checks parameters as `generate` does, without generating. @throws InvalidParameterError */
  validate(params: GenerateParams): void;
  /**
   * Downloads (once; resumable, with automatic retries) and loads the local model:
   * `load()`, `load(onProgress)`, `load({signal, onProgress})` or `load(onProgress, {signal})`.
   * @throws AbortedError when `signal` aborts (bytes stored so far are kept)
   */
  load(options?: LoadOptions): Promise<LoadedModel>;
  load(onProgress?: ProgressCallback, options?: LoadOptions): Promise<LoadedModel>;
  /** The device, and the package's GPU memory per plan at `options`' size (default 1024×1024). */
  checkDevice(options?: DeviceCheckOptions): Promise<DeviceReport>;
  listModels(): Promise<StoredModel[]>;
  deleteModel(url?: string): Promise<void>;
  dispose(): Promise<void>;
  /** BFL-shaped API: `submit(model, body)`, `getResult(id)`. */
  readonly bfl: BflFacade;
  /** OpenAI-shaped API: `images.generate({model, prompt, n, size, response_format})`. */
  readonly images: OpenAIImagesFacade;
}

function isEngine(p: AnyProviderConfig | ImageEngine): p is ImageEngine {
  return typeof (p as ImageEngine).generate === 'function';
}

/**
 * Creates a generator.
 *
 * ```ts
 * const generator = createGenerator({ model: './models/flux1-schnell-q4/', privacy: 'local-only' });
 * const { images, seed, backend } = await generator.generate({ prompt: 'a lighthouse at dusk', width: 512, height: 512 });
 * ```
 */
export function createGenerator(options: GeneratorOptions): Generator {
  const providers = (options.providers ?? []).map((p) => (isEngine(p) ? p : createProvider(p)));
  const privacy = options.privacy ?? (providers.length ? 'prefer-local' : 'local-only');
  if (!PRIVACY_MODES.includes(privacy)) throw new InvalidParameterError('privacy', PRIVACY_MODES.join(', '), privacy);
  if (privacy !== 'remote-only' && !options.model) throw new InvalidParameterError('model', 'the URL of a web model package (unless privacy is remote-only)', options.model);
  checkWorkerLocation(options);

  let local: LocalGenerator | undefined;
  const localGenerator = () => {
    if (!options.model) throw new FluxError('this generator has no local model (remote-only)');
    local ??= createLocalGenerator({ ...options, model: options.model });
    return local;
  };
  // One device check per size (the engine remembers its probe, so later sizes are cheap).
  const devices = new Map<string, Promise<DeviceReport>>();
  const checkDevice = (check: DeviceCheckOptions = {}) => {
    const key = `${check.width ?? DEFAULTS.width}x${check.height ?? DEFAULTS.height}`;
    let device = devices.get(key);
    if (!device) {
      device = localGenerator().checkDevice(check);
      devices.set(key, device);
      device.catch(() => devices.delete(key));
    }
    return device;
  };
  const validate = (params: GenerateParams) => {
    validateRequest({ ...params, model: '', allowAnySize: options.allowAnySize });
  };
  const route = (size: { width?: number; height?: number } = {}) => decideRoute(privacy, providers, () => checkDevice({ width: size.width, height: size.height }));

  const runRemote = async (provider: ImageEngine, params: GenerateParams, seed: number, reason: string, warnings: string[]): Promise<GenerateResult> => {
    if (!params.prompt) throw new InvalidParameterError('prompt', `text for ${provider.label} (hosted providers take a prompt, not embeddings)`, params.prompt);
    const started = performance.now();
    const result = await provider.generate(
      { prompt: params.prompt, width: params.width ?? 1024, height: params.height ?? 1024, steps: params.steps, seed, numImages: params.numImages ?? 1, outputFormat: params.outputFormat ?? 'png' },
      { signal: params.signal, onProgress: params.onProgress },
    );
    const totalMs = performance.now() - started;
    return {
      images: result.images,
      seed: result.seed ?? seed,
      width: result.width,
      height: result.height,
      steps: params.steps ?? 4,
      backend: provider.id,
      backendReason: reason,
      timings: { loadMs: 0, encodeMs: 0, denoiseMs: totalMs, decodeMs: 0, totalMs },
      warnings: [...warnings, ...result.adjustments],
    };
  };

  const generate = async (params: GenerateParams): Promise<GenerateResult> => {
    if (params?.signal?.aborted) throw new AbortedError();
    // Validate here first: a bad request is refused before anything runs or is sent.
    const { seed, warnings } = validateRequest({ ...params, model: '', allowAnySize: options.allowAnySize });
    const decision = await route({ width: params.width, height: params.height });
    if (decision.provider) return runRemote(decision.provider, params, seed, decision.reason, warnings);
    try {
      const result = await localGenerator().generate({ ...params, seed });
      return { ...result, backendReason: decision.reason };
    } catch (error) {
      // A size this device cannot hold is found only when loading; prefer-local then hands over.
      if (error instanceof DeviceCapabilityError && privacy === 'prefer-local' && providers.length) {
        return runRemote(providers[0], params, seed, `This device could not run this request locally (${error.message}), so the prompt was sent to ${providers[0].label}.`, warnings);
      }
      throw error;
    }
  };

  const target = { generate, validate };
  return {
    privacy,
    providers,
    generate,
    route,
    validate,
    load: (first?: ProgressCallback | LoadOptions, second?: LoadOptions) => localGenerator().load(first as ProgressCallback, second),
    checkDevice,
    listModels: () => localGenerator().listModels(),
    deleteModel: (url) => localGenerator().deleteModel(url),
    dispose: async () => {
      await local?.dispose();
    },
    bfl: createBflFacade(target),
    images: createOpenAIImagesFacade(target),
  };
}
