/**
 * Latent geometry of FLUX: an H×W image has latents [1,16,h,w] with h = 2·⌊H/16⌋,
 * w = 2·⌊W/16⌋, packed as 2×2 patches into [1,(h/2)(w/2),64] in the order
 * (row, col, channel, dy, dx), exactly as diffusers' `_pack_latents`.
 */

/** Latent channels of the FLUX VAE. */
export const LATENT_CHANNELS = 16;

/** Latent height/width for an image size in pixels. */
export function latentSize(height: number, width: number): { h: number; w: number } {
  return { h: 2 * Math.floor(height / 16), w: 2 * Math.floor(width / 16) };
}

/** [1,C,h,w] → [1,(h/2)(w/2),4C]. */
export function packLatents(latents: Float32Array, channels: number, h: number, w: number): Float32Array {
  const rows = h / 2;
  const cols = w / 2;
  const out = new Float32Array(latents.length);
  let o = 0;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++)
      for (let ch = 0; ch < channels; ch++)
        for (let dy = 0; dy < 2; dy++)
          for (let dx = 0; dx < 2; dx++) out[o++] = latents[(ch * h + 2 * r + dy) * w + 2 * c + dx];
  return out;
}

/** Inverse of `packLatents`: [1,(h/2)(w/2),4C] → [1,C,h,w]. */
export function unpackLatents(packed: Float32Array, channels: number, h: number, w: number): Float32Array {
  const rows = h / 2;
  const cols = w / 2;
  const out = new Float32Array(packed.length);
  let o = 0;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++)
      for (let ch = 0; ch < channels; ch++)
        for (let dy = 0; dy < 2; dy++)
          for (let dx = 0; dx < 2; dx++) out[(ch * h + 2 * r + dy) * w + 2 * c + dx] = packed[o++];
  return out;
}

/** Image token ids [(h/2)(w/2),3]: (0, row, col) per packed token, as float32. */
export function imageIds(h: number, w: number): Float32Array {
  const rows = h / 2;
  const cols = w / 2;
  const ids = new Float32Array(rows * cols * 3);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      ids[(r * cols + c) * 3 + 1] = r;
      ids[(r * cols + c) * 3 + 2] = c;
    }
  return ids;
}

/** Latents the VAE decodes: z / scaling + shift, elementwise (float32). */
export function scaleForVae(latents: Float32Array, scalingFactor: number, shiftFactor: number): Float32Array {
  const out = new Float32Array(latents.length);
  for (let i = 0; i < latents.length; i++) out[i] = latents[i] / scalingFactor + shiftFactor;
  return out;
}
