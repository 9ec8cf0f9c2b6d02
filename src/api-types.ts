/**
 * The public types of the library: what `createGenerator()` takes and what
 * `generate()` returns. Parameter ranges follow the hosted FLUX APIs (see defaults.ts).
 */
import type { ImageFit } from './image/fit-image.ts';
import type { ImageInput } from './image/image-input.ts';
import type { RgbImage } from './pipeline/image.ts';
import type { MemoryPlan } from './engine/memory-plan.ts';
import type { ProgressCallback } from './progress.ts';

/** Image encodings the generator can return. */
export type OutputFormat = 'png' | 'jpeg' | 'webp';

/** Text conditioning computed elsewhere (for packages without text encoders). */
export interface PromptEmbeddings {
  /** [1, 256, joint_dim] float32 */
  promptEmbeds: Float32Array;
  /** [1, pooled_dim] float32 */
  pooledPromptEmbeds: Float32Array;
}

/** One generation request. */
export interface GenerateParams {
  /** 1–10000 characters. Required unless `promptEmbeddings` is given. */
  prompt?: string;
  /** Instead of a prompt, for packages without text encoders. */
  promptEmbeddings?: PromptEmbeddings;
  /** Pixels, multiple of 16, 256–1440 (default 1024). */
  width?: number;
  /** Pixels, multiple of 16, 256–1440 (default 1024). */
  height?: number;
  /**
   * 1–50; default the model's own: 4 for FLUX.1 [schnell] (distilled for 1–4), 28 for
   * [dev]. More than the model is distilled for works, with a warning.
   */
  steps?: number;
  /**
   * Guidance scale, 1.5–5 like BFL's `/flux-dev` (default 3.5), for guidance-distilled
   * models (FLUX.1 [dev]); a local [schnell] package refuses it (InvalidParameterError).
   */
  guidance?: number;
  /** 0–4294967295; random when absent, always reported. Image i uses seed + i. */
  seed?: number;
  /** 1–4 (default 1). */
  numImages?: number;
  /** Default png. */
  outputFormat?: OutputFormat;
  /** 0–1, the encoder quality of jpeg and webp images (default the browser's, 0.92). */
  quality?: number;
  /**
   * Image-to-image: the picture to start from (Blob/File, ImageBitmap, ImageData,
   * HTMLImageElement, HTMLCanvasElement, OffscreenCanvas or URL). Without width/height the
   * size is the picture's own, rounded down to a multiple of 16 within the allowed range.
   * The local engine needs a package with the VAE encoder.
   */
  image?: ImageInput | RgbImage;
  /** Image-to-image: (0, 1], default 0.8. 0 would keep the picture unchanged, 1 regenerates it fully. */
  strength?: number;
  /** Image-to-image: how a picture of another size is fitted: 'cover' (centre-crop, default), 'contain' (letterbox), 'fill' (stretch). Lanczos-3. */
  fit?: ImageFit;
  /**
   * Fields a hosted provider receives in its request body as they are (e.g. `style`,
   * provider-specific options); the local engine ignores them (reported in `warnings`).
   */
  providerOptions?: Record<string, unknown>;
  /**
   * Local engine only: attach a cheap RGB preview (latent resolution, 1/8 of each side) to
   * every `denoise` progress event. Default false. Hosted providers ignore it.
   */
  preview?: boolean;
  /** Cancels the request (checked between steps and shards). */
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

/**
 * Options of `load()`: `load({signal, onProgress})`, or `load(onProgress, {signal})`.
 * Aborting the signal cancels the download (bytes stored so far are kept; the next
 * `load()` resumes) and rejects with AbortedError.
 */
export interface LoadOptions {
  signal?: AbortSignal;
  /** Download progress (including `status: 'retrying'` events) and graph loading. Must not throw. */
  onProgress?: ProgressCallback;
}

/** Milliseconds spent per stage. */
export interface GenerateTimings {
  loadMs: number;
  encodeMs: number;
  denoiseMs: number;
  decodeMs: number;
  totalMs: number;
}

/** What `generate()` returns. */
export interface GenerateResult {
  images: Blob[];
  /** The seed of the first image (image i used seed + i). */
  seed: number;
  width: number;
  height: number;
  steps: number;
  /** The guidance scale used (guidance-distilled models only). */
  guidance?: number;
  /** Which engine made the images: 'local' (this device) or a provider's id. */
  backend: string;
  /** Why that backend was chosen. */
  backendReason: string;
  timings: GenerateTimings;
  /** E.g. the words cut from a prompt longer than the encoders see. */
  warnings: string[];
  /** Image-to-image: the strength used. */
  strength?: number;
  /** Local engine: the memory plan that ran ('resident', 'staged' or 'streaming'). */
  memoryPlan?: MemoryPlan;
  /** Local engine: why that plan, with the numbers, e.g. "staged: 9.6 GiB needed, 11.2 GiB available". */
  memoryPlanReason?: string;
  /** Local engine: the most GPU bytes alive at once during the request (every buffer counted). */
  gpuPeakBytes?: number;
  /** Local engine: counted GPU bytes per stage ('load', 'text', 'transformer', 'vae'): the peak, and what was live when it ended. */
  gpuStages?: { stage: string; peakBytes: number; liveBytes: number }[];
}
