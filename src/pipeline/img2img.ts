/**
 * The numbers of diffusers' `FluxImg2ImgPipeline` (v0.32) that differ from text-to-image:
 *
 * - the picture enters the VAE encoder as `2·(u8/255) − 1` (VaeImageProcessor, float32);
 * - the encoder's moments give the posterior (`DiagonalGaussianDistribution`): mean and
 *   logvar (clamped to [−30, 20]), std = exp(½·logvar), and `retrieve_latents` SAMPLES it:
 *   z = mean + std·ε with ε the FIRST `randn` of the seed's generator;
 * - image latents = (z − shift_factor)·scaling_factor;
 * - the starting noise is the SECOND `randn` of that same generator (the stream continues);
 * - the strength rule (`get_timesteps`): init = min(N·strength, N),
 *   t_start = int(max(N − init, 0)); the steps run over sigmas[t_start:] (the scheduler's
 *   begin index), so the first timestep is sigmas[t_start]·1000;
 * - `scale_noise`: start latents = σ₀·noise + (1 − σ₀)·image_latents with σ₀ = sigmas[t_start].
 *
 * Every step rounds to float32 where torch does. Plain TypeScript: Node and the worker share it.
 */
import { InvalidParameterError } from '../errors.ts';

/** The posterior's logvar range (diffusers `DiagonalGaussianDistribution`). */
export const LOGVAR_RANGE = { min: -30, max: 20 } as const;

/** Where diffusers' strength rule starts: the index into the N+1 sigmas and how many steps remain. */
export interface StrengthStart {
  /** t_start: the first sigma used is sigmas[tStart]. */
  tStart: number;
  /** Steps that run: N − t_start (≥ 1). */
  steps: number;
}

/**
 * diffusers `get_timesteps`: init = min(N·strength, N), t_start = int(max(N − init, 0)),
 * in float64 as Python computes it. Strength 1 keeps every step; a strength so small that
 * no step is left is refused, as diffusers refuses it.
 * @param steps N, the requested steps (≥ 1)
 * @param strength in (0, 1]
 * @param field the name to report (e.g. "--strength")
 * @throws InvalidParameterError naming `field` when no step would run
 */
export function strengthStart(steps: number, strength: number, field = 'strength'): StrengthStart {
  const init = Math.min(steps * strength, steps);
  const tStart = Math.trunc(Math.max(steps - init, 0));
  const remaining = steps - tStart;
  if (remaining < 1) {
    throw new InvalidParameterError(field, `large enough that at least one of the ${steps} steps runs (here ${steps} − ${steps}·strength rounds to ${steps}, so none would)`, strength);
  }
  return { tStart, steps: remaining };
}

/** The sigmas an image-to-image run uses: sigmas[t_start:] of the full schedule (N+1 values, last 0). */
export function img2imgSigmas(sigmas: Float32Array, strength: number): Float32Array {
  const { tStart } = strengthStart(sigmas.length - 1, strength);
  return sigmas.slice(tStart);
}

/**
 * RGB bytes (row-major, 3 per pixel) → the VAE encoder's input [1, 3, H, W]:
 * 2·(u8/255) − 1 in float32, as diffusers' VaeImageProcessor (`pil_to_numpy`, `normalize`).
 */
export function rgbToVaeInput(rgb: Uint8Array, width: number, height: number): Float32Array {
  const plane = width * height;
  if (rgb.length !== plane * 3) throw new InvalidParameterError('image', `${width}×${height} RGB bytes (${plane * 3})`, `${rgb.length} bytes`);
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++)
    for (let c = 0; c < 3; c++) out[c * plane + i] = Math.fround(2 * Math.fround(rgb[i * 3 + c] / 255) - 1);
  return out;
}

/** The posterior of one encoded image and the latents sampled from it. */
export interface ImagePosterior {
  /** [1, C, h, w] */
  mean: Float32Array;
  /** [1, C, h, w], clamped to LOGVAR_RANGE. */
  logvar: Float32Array;
  /** (mean + exp(½·logvar)·ε − shift)·scale, [1, C, h, w]. */
  imageLatents: Float32Array;
}

/**
 * The posterior of the encoder's moments [1, 2C, h, w] (mean, then logvar) and the image
 * latents `(mean + std·ε − shift)·scale`.
 * @param epsilon [1, C, h, w]: the generator's first draw
 */
export function sampleImageLatents(moments: Float32Array, epsilon: Float32Array, scalingFactor: number, shiftFactor: number): ImagePosterior {
  const n = epsilon.length;
  if (moments.length !== 2 * n) throw new InvalidParameterError('moments', `${2 * n} values (mean and logvar)`, `${moments.length} values`);
  const mean = moments.slice(0, n);
  const logvar = new Float32Array(n);
  const imageLatents = new Float32Array(n);
  const shift = Math.fround(shiftFactor);
  const scale = Math.fround(scalingFactor);
  for (let i = 0; i < n; i++) {
    const lv = Math.min(LOGVAR_RANGE.max, Math.max(LOGVAR_RANGE.min, moments[n + i]));
    logvar[i] = lv;
    const std = Math.fround(Math.exp(Math.fround(0.5 * lv)));
    const z = Math.fround(mean[i] + Math.fround(std * epsilon[i]));
    imageLatents[i] = Math.fround(Math.fround(z - shift) * scale);
  }
  return { mean, logvar, imageLatents };
}

/** `scale_noise`: σ₀·noise + (1 − σ₀)·image_latents, elementwise in float32. */
export function noisedImageLatents(noise: Float32Array, imageLatents: Float32Array, sigma: number): Float32Array {
  const s = Math.fround(sigma);
  const keep = Math.fround(1 - s);
  const out = new Float32Array(noise.length);
  for (let i = 0; i < noise.length; i++) out[i] = Math.fround(Math.fround(s * noise[i]) + Math.fround(keep * imageLatents[i]));
  return out;
}
