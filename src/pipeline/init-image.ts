/**
 * The image-to-image start of one image (diffusers `FluxImg2ImgPipeline.prepare_latents`):
 * the picture through the VAE encoder (whole or tiled, vae-encode.ts), the posterior
 * sampled with the generator's first draw, the strength rule and `scale_noise`
 * (img2img.ts). The pipeline draws the noise from the same generator afterwards.
 */
import { InvalidParameterError } from '../errors.ts';
import { img2imgSigmas, noisedImageLatents, rgbToVaeInput, sampleImageLatents } from './img2img.ts';
import { LATENT_CHANNELS, latentSize } from './latents.ts';
import type { TorchCpuGenerator } from './randn.ts';
import type { ModelRuntime } from './runtime.ts';
import { encodePixels } from './vae-encode.ts';

/** The picture an image-to-image run starts from. */
export interface InitImage {
  /** RGB bytes, row-major, 3 per pixel, already at the run's width × height. */
  rgb: Uint8Array;
  width: number;
  height: number;
  /** In (0, 1]: 0 would keep the picture, 1 regenerates it fully (diffusers' strength). */
  strength: number;
  /** Force a VAE encoder tile (pixels) or an untiled encode (null); absent: chosen from `maxBufferBytes`. */
  tilePx?: number | null;
  /** The GPU's largest buffer in bytes, for the automatic tile choice. */
  maxBufferBytes?: number;
}

/** Tensors of the image-to-image start, named as in the golden files. */
export interface InitImageIntermediates {
  vae_encoder_mean: Float32Array;
  vae_encoder_logvar: Float32Array;
  image_latents: Float32Array;
}

/** An encoded start picture. */
export interface EncodedInitImage {
  /** The run's sigmas under the strength rule (sigmas[t_start:]). */
  sigmasFrom(schedule: Float32Array): Float32Array;
  /** σ₀·noise + (1 − σ₀)·image_latents, [1, 16, h, w]. */
  startLatents(noise: Float32Array, sigma0: number): Float32Array;
  intermediates: InitImageIntermediates;
  /** The encoder tile used (pixels), or null when encoded whole. */
  tilePx: number | null;
  /** Milliseconds inside `session.run`. */
  sessionRunMs: number;
}

/**
 * Encodes the start picture and samples its latents with the generator's next draw (the
 * first of a fresh generator, as in diffusers).
 * @throws InvalidParameterError when the picture is not at the run's size
 * @throws ModelPackageError when the package has no VAE encoder
 */
export async function encodeInitImage(
  runtime: ModelRuntime,
  init: InitImage,
  generator: TorchCpuGenerator,
  run: { height: number; width: number; signal?: AbortSignal },
): Promise<EncodedInitImage> {
  if (init.width !== run.width || init.height !== run.height) {
    throw new InvalidParameterError('image', `a picture of the run's size ${run.width}×${run.height} (resize it first)`, `${init.width}×${init.height}`);
  }
  const { h, w } = latentSize(run.height, run.width);
  const vae = runtime.manifest.configs.vae as { scaling_factor: number; shift_factor: number };
  const encoded = await encodePixels(runtime, {
    pixels: rgbToVaeInput(init.rgb, init.width, init.height),
    height: init.height,
    width: init.width,
    tilePx: init.tilePx,
    maxBufferBytes: init.maxBufferBytes,
    signal: run.signal,
  });
  const { moments } = encoded;
  if (moments.channels !== 2 * LATENT_CHANNELS || moments.height !== h || moments.width !== w) {
    throw new InvalidParameterError('image', `a size whose VAE moments are [${2 * LATENT_CHANNELS}, ${h}, ${w}]`, `[${moments.channels}, ${moments.height}, ${moments.width}]`);
  }
  const epsilon = generator.randn([1, LATENT_CHANNELS, h, w]);
  const posterior = sampleImageLatents(moments.data, epsilon, vae.scaling_factor, vae.shift_factor);
  return {
    sigmasFrom: (schedule) => img2imgSigmas(schedule, init.strength),
    startLatents: (noise, sigma0) => noisedImageLatents(noise, posterior.imageLatents, sigma0),
    intermediates: { vae_encoder_mean: posterior.mean, vae_encoder_logvar: posterior.logvar, image_latents: posterior.imageLatents },
    tilePx: encoded.tilePx,
    sessionRunMs: encoded.sessionRunMs,
  };
}
