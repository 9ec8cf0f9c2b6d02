/**
 * RoPE tables of FLUX (diffusers `FluxPosEmbed`): for each axis i of the token ids,
 * frequencies 1/θ^(2j/dᵢ) in float64, angles = id·freq; the tables of the three axes
 * are concatenated. Tables hold one value per rotated pair ([tokens, head_dim/2]),
 * which is the layout `RotaryEmbedding` (interleaved) takes.
 */

/**
 * @param ids token ids [tokens, 3] (text ids are all zero, image ids (0,row,col))
 * @param axesDims per-axis rotary dims, each even, summing to the head dim (FLUX: 16,56,56)
 * @param theta base, 10000 for FLUX
 */
export function ropeTables(ids: Float32Array, axesDims: number[], theta = 10000): { cos: Float32Array; sin: Float32Array; tokens: number; half: number } {
  const tokens = ids.length / axesDims.length;
  const half = axesDims.reduce((a, b) => a + b, 0) / 2;
  const cos = new Float32Array(tokens * half);
  const sin = new Float32Array(tokens * half);
  const freqs: number[] = [];
  const axisOf: number[] = [];
  axesDims.forEach((dim, axis) => {
    for (let j = 0; j < dim; j += 2) {
      freqs.push(1 / theta ** (j / dim));
      axisOf.push(axis);
    }
  });
  for (let t = 0; t < tokens; t++)
    for (let k = 0; k < half; k++) {
      const angle = ids[t * axesDims.length + axisOf[k]] * freqs[k];
      cos[t * half + k] = Math.cos(angle);
      sin[t * half + k] = Math.sin(angle);
    }
  return { cos, sin, tokens, half };
}

/** Ids of the joint sequence: `textTokens` zero rows, then the image ids. */
export function jointIds(textTokens: number, imageIds: Float32Array): Float32Array {
  const ids = new Float32Array(textTokens * 3 + imageIds.length);
  ids.set(imageIds, textTokens * 3);
  return ids;
}
