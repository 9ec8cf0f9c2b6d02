/**
 * A cheap live preview of the image during denoising: the model's current estimate of
 * the clean latents (x0 = x − σ·v) projected to RGB by a fixed linear map of FLUX's 16
 * latent channels — no VAE. One pixel per latent position (1/8 of the image side);
 * the page scales it up. Costs about 50 multiply-adds per latent pixel.
 */
import { LATENT_CHANNELS } from './latents.ts';

/** An RGBA image small enough to send with every progress event. */
export interface PreviewImage {
  width: number;
  height: number;
  /** width·height·4 bytes. */
  rgba: Uint8ClampedArray;
}

/**
 * Latent channel → RGB weights for FLUX's 16-channel VAE latent space (the widely used
 * approximation of ComfyUI's Flux latent format), and the RGB bias.
 */
const FLUX_LATENT_RGB: readonly (readonly [number, number, number])[] = [
  [-0.0346, 0.0244, 0.0681],
  [0.0034, 0.021, 0.0687],
  [0.0275, -0.0668, -0.0433],
  [-0.0174, 0.016, 0.0617],
  [0.0859, 0.0721, 0.0329],
  [0.0004, 0.0383, 0.0115],
  [0.0405, 0.0861, 0.0915],
  [-0.0236, -0.0185, -0.0259],
  [-0.0245, 0.025, 0.118],
  [0.1008, 0.0755, -0.0421],
  [-0.0515, 0.0201, 0.0011],
  [0.0428, -0.0012, -0.0036],
  [0.0817, 0.0765, 0.0749],
  [-0.1264, -0.0522, -0.1103],
  [-0.028, -0.0881, -0.0499],
  [-0.1262, -0.0982, -0.0778],
];
const FLUX_LATENT_RGB_BIAS = [-0.0329, -0.0718, -0.0851] as const;

/**
 * Preview of packed latents [1,(h/2)(w/2),64] (model space), given the velocity `v` and
 * the current σ: x0 = x − σ·v, then RGB = x0·W + b mapped from [−1,1] to [0,255].
 * @param h latent height (image height / 8), even
 * @param w latent width (image width / 8), even
 */
export function previewFromPacked(latents: Float32Array, velocity: Float32Array, sigma: number, h: number, w: number): PreviewImage {
  const rgba = new Uint8ClampedArray(h * w * 4);
  const cols = w / 2;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      // packed index: token (row, col), then channel, dy, dx (see latents.ts)
      const token = (y >> 1) * cols + (x >> 1);
      const within = (y & 1) * 2 + (x & 1);
      let r = FLUX_LATENT_RGB_BIAS[0];
      let g = FLUX_LATENT_RGB_BIAS[1];
      let b = FLUX_LATENT_RGB_BIAS[2];
      for (let c = 0; c < LATENT_CHANNELS; c++) {
        const i = token * LATENT_CHANNELS * 4 + c * 4 + within;
        const x0 = latents[i] - sigma * velocity[i];
        const [wr, wg, wb] = FLUX_LATENT_RGB[c];
        r += x0 * wr;
        g += x0 * wg;
        b += x0 * wb;
      }
      const o = (y * w + x) * 4;
      rgba[o] = (r + 1) * 127.5;
      rgba[o + 1] = (g + 1) * 127.5;
      rgba[o + 2] = (b + 1) * 127.5;
      rgba[o + 3] = 255;
    }
  return { width: w, height: h, rgba };
}
