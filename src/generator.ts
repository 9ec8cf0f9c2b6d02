/**
 * `createGenerator()`: the library's entry. One generator routes each request to this
 * device (the worker-backed local generator) or to a hosted provider, by privacy mode,
 * and offers BFL- and OpenAI-shaped facades over the same routing. A request is checked
 * once, here (`validateRequest`), and travels on as one `ValidRequest`.
 */
import type { GenerateParams, GenerateResult, LoadOptions } from './api-types.ts';
import { DEFAULTS } from './defaults.ts';
import type { DeviceCheckOptions, DeviceReport, LoadedModel, StoredModel } from './engine/protocol.ts';
import { withDecodedImage } from './image/init-request.ts';
import { DeviceCapabilityError, FluxError, InvalidParameterError, ProviderUnsupportedError, throwIfAborted } from './errors.ts';
import { checkWorkerLocation } from './engine/worker-url.ts';
import { LIMITS } from './defaults.ts';
import { createBflFacade, type BflFacade, type FacadeTarget } from './facades/bfl-facade.ts';
import { createOpenAIImagesFacade, type OpenAIImagesFacade } from './facades/openai-facade.ts';
import { checkGeneratorOptions } from './generator-options.ts';
import { createLocalGenerator, loadOptions, type LocalGenerator, type LocalGeneratorOptions } from './local-generator.ts';
import type { ProgressCallback } from './progress.ts';
import { createHubModel } from './import/hub-model.ts';
import { isHubModelSource, type HubModelSource } from './import/hub-model-source.ts';
import { createProvider, isEngine, type AnyProviderConfig, type ImageEngine } from './providers/index.ts';
import { validateRequest, type ValidRequest } from './request.ts';
import { decideRoute, type PrivacyMode, type RouteDecision } from './routing.ts';
import type { TokenCount } from './text/token-count.ts';

/** Options of `createGenerator`. */
export interface GeneratorOptions extends Partial<Omit<LocalGeneratorOptions, 'model'>> {
  /**
   * URL of the web model package, or a model to import from the Hugging Face Hub
   * (`{ from: 'hf:black-forest-labs/FLUX.1-schnell', transformer?, textEncoder2?, vae?, weights?, hubUrl?, token? }`):
   * it is converted into this browser's storage on the first `load()`/`generate()` (once;
   * an interrupted import resumes), with `import` progress events. Required unless
   * `privacy` is 'remote-only'.
   */
  model?: string | HubModelSource;
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
   * say where it ran and why. `params` may be a ValidRequest from `validate()` (with
   * `signal`/`onProgress` spread in): it is not checked again.
   * @throws InvalidParameterError naming a field out of range (nothing is sent)
   * @throws DeviceCapabilityError in local-only mode on a device that cannot run the model
   * @throws DeviceLostError / WorkerCrashedError when the GPU device or the worker died meanwhile (the next call recovers)
   * @throws AbortedError when `params.signal` aborts
   */
  generate(params: GenerateParams | ValidRequest): Promise<GenerateResult>;
  /**
   * Where a generation of `size` (default 1024×1024) will run and why (checks the device
   * and its GPU memory for that size; downloads only the manifest).
   */
  route(size?: { width?: number; height?: number }): Promise<RouteDecision>;
  /** Checks parameters as `generate` does, without generating. @returns the checked request @throws InvalidParameterError */
  validate(params: GenerateParams): ValidRequest;
  /**
   * `validate` for a request with a picture to decode (image-to-image: a Blob, URL, canvas,
   * …): decodes and fits it (`fit`, to `width`×`height` or the picture's own size), then
   * checks the request. The result goes to `generate` as it is (the picture decoded once).
   * @throws InvalidParameterError naming the field (`image` for a picture that cannot be read)
   */
  prepare(params: GenerateParams): Promise<ValidRequest>;
  /**
   * Downloads (once; resumable, with automatic retries) and loads the local model:
   * `load()`, `load(onProgress)`, `load({signal, onProgress})` or `load(onProgress, {signal})`.
   * @throws AbortedError when `signal` aborts (bytes stored so far are kept)
   * @throws InvalidParameterError naming `signal` or `onProgress` when it has the wrong type
   */
  load(options?: LoadOptions): Promise<LoadedModel>;
  load(onProgress?: ProgressCallback, options?: LoadOptions): Promise<LoadedModel>;
  /**
   * What the device offers and whether the model fits, with the GPU memory each memory
   * plan needs at `options`' size (default 1024×1024) and what the device gave (probed
   * once per session, again after a device loss).
   */
  checkDevice(options?: DeviceCheckOptions): Promise<DeviceReport>;
  /**
   * How a prompt fits the local model's text encoders, before generating: per encoder the
   * ids it receives, tokens needed / its length (CLIP 77; T5 256 for [schnell], 512 for
   * [dev]), the words kept and the text dropped. Sends nothing anywhere (it reads only the
   * package's tokenizer files).
   * @throws FluxError for a remote-only generator (no local model); ModelPackageError for a package without text encoders
   */
  countTokens(prompt: string): Promise<TokenCount>;
  listModels(): Promise<StoredModel[]>;
  deleteModel(url?: string): Promise<void>;
  dispose(): Promise<void>;
  /** BFL-shaped API: `submit(model, body)`, `getResult(id)`. */
  readonly bfl: BflFacade;
  /** OpenAI-shaped API: `images.generate({model, prompt, n, size, response_format})`. */
  readonly images: OpenAIImagesFacade;
}

/**
 * Creates a generator.
 *
 * ```ts
 * const generator = createGenerator({ model: './models/flux1-schnell-q4/', privacy: 'local-only' });
 * const { images, seed, backend } = await generator.generate({ prompt: 'a lighthouse at dusk', width: 512, height: 512 });
 * ```
 * @throws InvalidParameterError naming the option for every option that is not allowed
 */
export function createGenerator(options: GeneratorOptions): Generator {
  checkGeneratorOptions(options);
  const providers = (options.providers ?? []).map((p, i) => (isEngine(p) ? p : providerAt(i, p)));
  const privacy = options.privacy ?? (providers.length ? 'prefer-local' : 'local-only');
  if (privacy !== 'remote-only' && !options.model) throw new InvalidParameterError('model', 'the URL of a web model package (unless privacy is remote-only)', options.model, 'missing');
  checkWorkerLocation(options);
  const rules = { sizes: options.allowAnySize ? ('any' as const) : ('web' as const) };

  const hubModel = isHubModelSource(options.model) ? createHubModel(options.model) : undefined;
  const modelUrl = hubModel ? hubModel.packageUrl : (options.model as string | undefined);
  let local: LocalGenerator | undefined;
  const localGenerator = () => {
    if (!modelUrl) throw new FluxError('this generator has no local model (remote-only)', 'no-local-model');
    local ??= createLocalGenerator({ model: modelUrl, allowAnySize: options.allowAnySize, engine: options.engine, memory: options.memory, worker: options.worker, workerUrl: options.workerUrl, wasmPaths: options.wasmPaths });
    return local;
  };
  // The worker keeps the device report (once per package, dropped on device loss; a new
  // worker starts without one) and its memory probe, so a check per size is cheap.
  const checkDevice = (check: DeviceCheckOptions = {}) => localGenerator().checkDevice(check);
  const validate = (params: GenerateParams) => validateRequest(params, rules);
  // A picture (image-to-image) is decoded and fitted where the request enters: only its RGB bytes go on.
  const prepare = async (params: GenerateParams | ValidRequest) => validateRequest(await withDecodedImage(params, rules, (params as GenerateParams | undefined)?.signal), rules);
  const route = (size: { width?: number; height?: number } = {}) =>
    decideRoute(privacy, providers, () => checkDevice({ width: size.width ?? DEFAULTS.width, height: size.height ?? DEFAULTS.height }));

  const runRemote = async (provider: ImageEngine, request: ValidRequest, params: GenerateParams, reason: string): Promise<GenerateResult> => {
    if (request.prompt === undefined) throw new InvalidParameterError('prompt', `text for ${provider.label} (hosted providers take a prompt, not embeddings)`, undefined, 'missing');
    // Image-to-image only where the engine says it can (hosted providers refuse it themselves, naming the models that can).
    if (request.image && provider.acceptsImage === undefined) {
      throw new ProviderUnsupportedError(`${provider.label} cannot start from a picture (image-to-image). Nothing was sent: remove the picture, or run on this device.`, provider.id, 'image-to-image');
    }
    const started = performance.now();
    const result = await provider.generate(request, { signal: params.signal, onProgress: params.onProgress });
    const totalMs = performance.now() - started;
    return {
      images: result.images,
      seed: result.seed ?? request.seed,
      width: result.width,
      height: result.height,
      steps: request.steps,
      ...(request.guidance === undefined ? {} : { guidance: request.guidance }),
      backend: provider.id,
      backendReason: reason,
      timings: { loadMs: 0, encodeMs: 0, denoiseMs: totalMs, decodeMs: 0, totalMs },
      warnings: [...request.warnings, ...result.adjustments],
      ...(request.strength !== undefined ? { strength: request.strength } : {}),
    };
  };

  // Image-to-image goes to the first provider (in order of preference) whose model can start from a picture.
  const capableOf = (request: ValidRequest, preferred: ImageEngine): ImageEngine =>
    !request.image || preferred.acceptsImage?.() ? preferred : (providers.find((p) => p.acceptsImage?.()) ?? preferred);

  const generate = async (params: GenerateParams | ValidRequest): Promise<GenerateResult> => {
    // Checked here, once: a bad request is refused before anything runs or is sent.
    const request = await prepare(params);
    const call = params as GenerateParams;
    throwIfAborted(call.signal);
    const decision = await route({ width: request.width, height: request.height });
    if (decision.provider) return runRemote(capableOf(request, decision.provider), request, call, decision.reason);
    try {
      await hubModel?.ensure({ onProgress: call.onProgress, signal: call.signal });
      const result = await localGenerator().generate({ ...request, signal: call.signal, onProgress: call.onProgress });
      const ignored = request.providerOptions ? Object.keys(request.providerOptions) : [];
      const notes = ignored.length ? [`providerOptions ${ignored.join(', ')} ignored on this device (they go only to hosted providers)`] : [];
      return { ...result, backendReason: decision.reason, warnings: [...notes, ...result.warnings] };
    } catch (error) {
      // A size this device cannot hold, or a GPU that ran out of memory under the lightest
      // plan, is found only when loading or running; prefer-local then hands over.
      if (error instanceof DeviceCapabilityError && privacy === 'prefer-local' && providers.length) {
        const provider = capableOf(request, providers[0]);
        return runRemote(provider, request, call, `This device could not run this request locally (${error.message}), so the prompt was sent to ${provider.label}.`);
      }
      throw error;
    }
  };

  const target: FacadeTarget = {
    generate,
    validate,
    prepare,
    // The local model's family when the next request runs here (a [dev] package takes a guidance).
    localFamily: async () => {
      const decision = await route();
      return decision.onDevice ? (await checkDevice()).model?.family : undefined;
    },
    sideRule: options.allowAnySize
      ? { min: LIMITS.cliSize.min, max: LIMITS.cliSize.max, multiple: LIMITS.sizeMultiple }
      : { min: LIMITS.webSize.min, max: LIMITS.webSize.max, multiple: LIMITS.sizeMultiple },
  };
  return {
    privacy,
    providers,
    generate,
    route,
    validate,
    prepare,
    load: async (first?: ProgressCallback | LoadOptions, second?: LoadOptions) => {
      if (hubModel) {
        const { signal, onProgress } = loadOptions(first, second);
        await hubModel.ensure({ onProgress, signal });
      }
      return localGenerator().load(first as ProgressCallback, second);
    },
    checkDevice,
    countTokens: (prompt) => localGenerator().countTokens(prompt),
    listModels: () => localGenerator().listModels(),
    deleteModel: (url) => localGenerator().deleteModel(url),
    dispose: async () => {
      await local?.dispose();
    },
    bfl: createBflFacade(target),
    images: createOpenAIImagesFacade(target),
  };
}

/** Builds provider `i` of the options; its errors name `providers[i].field`. */
function providerAt(index: number, config: AnyProviderConfig): ImageEngine {
  try {
    return createProvider(config);
  } catch (error) {
    if (!(error instanceof InvalidParameterError)) throw error;
    const field = error.field === 'config' ? `providers[${index}]` : `providers[${index}].${error.field}`;
    throw new InvalidParameterError(field, error.allowed, error.received, error.reason);
  }
}
