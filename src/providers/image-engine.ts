/**
 * The one interface every image engine implements: each hosted provider here, and the
 * local WebGPU engine behind the router. A request says what the caller wants; a result
 * says what the engine actually did (size, model, seed) and every adjustment it made.
 */
import type { OutputFormat } from '../api-types.ts';
import type { ProgressEvent } from '../progress.ts';
import type { ValidRequest } from '../request.ts';

/**
 * What a provider is asked to make, when it is called on its own (`createGenerator` hands
 * providers the `ValidRequest` it has checked already). Checked by `validateRequest`
 * under the 'provider' rule: any positive size, steps ≥ 1.
 */
export interface ProviderRequest {
  /** 1–10000 characters (providers may accept fewer; they say so in an error). */
  prompt: string;
  /** Pixels. Providers with fixed sizes or multiples pick the nearest allowed (see `strict`). */
  width: number;
  /** Pixels. */
  height: number;
  /** Denoising steps; absent: the provider's default. Not every model takes it. */
  steps?: number;
  /** Guidance scale (1.5–5) for FLUX.1 [dev]-type models; absent: the provider's default. Not every model takes it. */
  guidance?: number;
  /** 0–4294967295; absent: the provider draws one. Where a provider makes one image per task, image i uses seed + i. */
  seed?: number;
  /** 1–4. */
  numImages: number;
  /** The encoding asked for; providers without the choice return their own (the result says so). */
  outputFormat: OutputFormat;
  /** Overrides the provider's configured model for this request. */
  model?: string;
  /** Fields added to the provider's request body as they are (they never replace a mapped field). */
  providerOptions?: Record<string, unknown>;
}

/** What a provider made. */
export interface ProviderResult {
  /** One Blob per image, typed from the bytes (image/png, image/jpeg, image/webp). */
  images: Blob[];
  /** The first image's seed, when the provider reports it or it was sent. */
  seed?: number;
  /** Pixels, as the provider actually made them (read from the first image's bytes when possible). */
  width: number;
  height: number;
  /** The model the provider ran (e.g. 'flux-pro-1.1', 'fal-ai/flux/schnell'). */
  model: string;
  /** Every value changed to fit the provider, in words (e.g. "size 1000x1000 → 1024x1024 (Monica supports 3 sizes)"). */
  adjustments: string[];
  /** The provider's id. */
  provider: string;
}

/** Progress events of a provider call (the `remote` stage, then `done`). */
export type ProviderProgressEvent = ProgressEvent;

/** A provider progress callback. Must not throw (exceptions are swallowed). */
export type ProviderProgressCallback = (event: ProviderProgressEvent) => void;

/** Per-call options. */
export interface ProviderGenerateOptions {
  /** Cancels the call (AbortedError); remote tasks are cancelled where the provider allows. */
  signal?: AbortSignal;
  onProgress?: ProviderProgressCallback;
}

/** One engine that turns prompts into images. */
export interface ImageEngine {
  /** Short stable id: 'bfl', 'fal', 'replicate', 'openai', 'monica', 'aimlapi' (or 'local'). */
  readonly id: string;
  /** A name for people (e.g. 'Black Forest Labs'). */
  readonly label: string;
  /**
   * Makes `request.numImages` images. A `ValidRequest` is used as it is; a
   * `ProviderRequest` is checked first (the same `validateRequest`).
   * @throws InvalidParameterError naming a field out of range, or (strict mode) one the provider cannot take;
   *   AbortedError when `options.signal` aborts, and a ProviderError subclass for every
   *   remote failure (see errors.ts).
   */
  generate(request: ProviderRequest | ValidRequest, options?: ProviderGenerateOptions): Promise<ProviderResult>;
}

/** Whether a provider entry is a ready engine (rather than a config for `createProvider`). */
export function isEngine(value: unknown): value is ImageEngine {
  return typeof value === 'object' && value !== null && typeof (value as ImageEngine).generate === 'function';
}
