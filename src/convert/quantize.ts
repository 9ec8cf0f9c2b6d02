/**
 * Block quantization of linear weights into the layout of onnxruntime's
 * `com.microsoft.MatMulNBits`: for a weight W [N, K] (torch Linear layout, out × in),
 * B is uint8 [N, ceil(K/block), block·bits/8], scales float32 [N·ceil(K/block)], and
 * the default zero point (2^(bits−1)) is used, so no zero-point input is stored.
 * Dequantized value = (q − 2^(bits−1)) · scale. Low nibble first for 4-bit.
 */

/** Bits per weight supported by MatMulNBits on every onnxruntime backend we target. */
export type QuantBits = 4 | 8;

/** A quantized weight ready for MatMulNBits. */
export interface QuantizedWeight {
  /** uint8 [N, blocksPerRow, block·bits/8] */
  packed: Uint8Array;
  /** float32 [N · blocksPerRow] */
  scales: Float32Array;
  blocksPerRow: number;
  bytesPerBlock: number;
}

/**
 * Quantizes W [n, k] (row-major, rows = output features) in blocks of `blockSize`
 * along k. Each block's scale maps the value of largest magnitude to the most negative
 * level (−2^(bits−1)), like llama.cpp's q4_0, so all 2^bits levels are used.
 * A trailing partial block is zero-padded.
 *
 * @param weight row-major float32 values, length n·k
 * @param n rows (output features), ≥ 1
 * @param k columns (input features), ≥ 1
 * @param bits 4 or 8
 * @param blockSize power of two ≥ 16 (32 is the fast path on WebGPU)
 */
export function quantizeBlockwise(weight: Float32Array, n: number, k: number, bits: QuantBits, blockSize = 32): QuantizedWeight {
  if (weight.length !== n * k) throw new Error(`quantize: ${weight.length} values for [${n}, ${k}]`);
  const blocksPerRow = Math.ceil(k / blockSize);
  const bytesPerBlock = (blockSize * bits) / 8;
  const packed = new Uint8Array(n * blocksPerRow * bytesPerBlock);
  const scales = new Float32Array(n * blocksPerRow);
  const zero = 1 << (bits - 1);
  const maxLevel = (1 << bits) - 1;
  const levels = new Uint8Array(blockSize);
  for (let row = 0; row < n; row++) {
    for (let block = 0; block < blocksPerRow; block++) {
      const start = row * k + block * blockSize;
      const count = Math.min(blockSize, k - block * blockSize);
      let extreme = 0;
      for (let i = 0; i < count; i++) {
        const v = weight[start + i];
        if (Math.abs(v) > Math.abs(extreme)) extreme = v;
      }
      const scale = Math.fround(extreme / -zero);
      const inverse = scale === 0 ? 0 : 1 / scale;
      levels.fill(zero);
      for (let i = 0; i < count; i++) {
        levels[i] = Math.min(maxLevel, Math.max(0, Math.round(weight[start + i] * inverse) + zero));
      }
      const blockIndex = row * blocksPerRow + block;
      scales[blockIndex] = scale;
      const out = blockIndex * bytesPerBlock;
      if (bits === 8) packed.set(levels, out);
      else for (let i = 0; i < bytesPerBlock; i++) packed[out + i] = levels[2 * i] | (levels[2 * i + 1] << 4);
    }
  }
  return { packed, scales, blocksPerRow, bytesPerBlock };
}

/** Inverse of `quantizeBlockwise` (for tests and error measurements): returns W [n, k]. */
export function dequantizeBlockwise(q: QuantizedWeight, n: number, k: number, bits: QuantBits, blockSize = 32): Float32Array {
  const out = new Float32Array(n * k);
  const zero = 1 << (bits - 1);
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < k; col++) {
      const block = Math.floor(col / blockSize);
      const blockIndex = row * q.blocksPerRow + block;
      const within = col % blockSize;
      const byte = q.packed[blockIndex * q.bytesPerBlock + (bits === 8 ? within : within >> 1)];
      const level = bits === 8 ? byte : within % 2 === 0 ? byte & 0x0f : byte >> 4;
      out[row * k + col] = (level - zero) * q.scales[blockIndex];
    }
  }
  return out;
}
