/**
 * `createGenerator()`: the library's entry. One generator routes each request to this
 * device (the WebGPU worker of client.ts) or to a hosted provider, by privacy mode, and
 * offers BFL- and OpenAI-shaped facades over the same routing.
 */
import type { GenerateParams, GenerateResult } from './api-types.ts';
import { createLocalGenerator, type Generator as LocalGenerator, type GeneratorOptions as LocalOptions } from './client.ts';
import type { DeviceReport, LoadedModel, StoredModel } from './engine/protocol.ts';
import { validateRequest } from './engine/request.ts';
import { AbortedError, DeviceCapabilityError, FluxError, InvalidParameterError } from './errors.ts';
import { createBflFacade, type BflFacade } from './facades/bfl-facade.ts';
import { createOpenAIImagesFacade, type OpenAIImagesFacade } from './facades/openai-facade.ts';
import type { ProgressCallback } from './progress.ts';
import { createProvider, type AnyProviderConfig, type ImageEngine } from './providers/index.ts';
import { decideRoute, PRIVACY_MODES, type PrivacyMode, type RouteDecision } from './routing.ts';
import { createHubModel } from './import/hub-model.ts';
import { isHubModelSource, type HubModelSource } from './import/hub-model-source.ts';

/** Options of `createGenerator`. */
export interface GeneratorOptions extends Partial<Omit<LocalOptions, 'model'>> {
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
   * say where it ran and why.
   * @throws InvalidParameterError naming a field out of range (nothing is sent)
   * @throws DeviceCapabilityError in local-only mode on a device that cannot run the model
   * @throws AbortedError when `params.signal` aborts
   */
  generate(params: GenerateParams): Promise<GenerateResult>;
  /** Where the next generation will run and why (checks the device; downloads only the manifest). */
  route(): Promise<RouteDecision>;
  /** Checks parameters as `generate` does, without generating. @throws InvalidParameterError */
  validate(params: GenerateParams): void;
  /** Downloads (once) and loads the local model. */
  load(onProgress?: ProgressCallback): Promise<LoadedModel>;
  checkDevice(): Promise<DeviceReport>;
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

  const hubModel = isHubModelSource(options.model) ? createHubModel(options.model) : undefined;
  const modelUrl = hubModel ? hubModel.packageUrl : (options.model as string | undefined);
  let local: LocalGenerator | undefined;
  const localGenerator = () => {
    if (!modelUrl) throw new FluxError('this generator has no local model (remote-only)');
    local ??= createLocalGenerator({ ...options, model: modelUrl });
    return local;
  };
  let device: Promise<DeviceReport> | undefined;
  const checkDevice = () => (device ??= localGenerator().checkDevice().catch((error) => {
    device = undefined;
    throw error;
  }));
  const validate = (params: GenerateParams) => {
    validateRequest({ ...params, model: '', allowAnySize: options.allowAnySize });
  };
  const route = () => decideRoute(privacy, providers, checkDevice);

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
    const decision = await route();
    if (decision.provider) return runRemote(decision.provider, params, seed, decision.reason, warnings);
    try {
      await hubModel?.ensure({ onProgress: params.onProgress, signal: params.signal });
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
    load: async (onProgress) => {
      await hubModel?.ensure({ onProgress });
      return localGenerator().load(onProgress);
    },
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
