/**
 * The package's storage rule, stated once: how many bits a linear weight keeps at each
 * precision, which linears never go below 8 bits, what a stored tensor costs, and how
 * consecutive blocks are packed into data files under a size limit. The graph builders
 * (`linear`), the shard planners and the registry's size estimate all use these.
 */
import { CheckpointError } from '../errors.ts';
import type { WeightPrecision } from '../package/manifest.ts';

/** MatMulNBits block size: 32 is the fast path of both onnxruntime-web WebGPU builds. */
export const QUANT_BLOCK_SIZE = 32;

/**
 * Linears kept at 8 bits or more in q4 packages, by checkpoint prefix (diffusers names):
 * the AdaLN modulations (`norm1.linear`, `norm1_context.linear`, `norm.linear`,
 * `norm_out.linear`) and the VAE's mid-block attention.
 */
const EIGHT_BIT_LINEARS = /(^|\.)(norm1|norm1_context|norm|norm_out)\.linear$|mid_block\.attentions\.0\.to_(q|k|v|out\.0)$/;

/** The smallest bit width the linear with checkpoint prefix `prefix` (no `.weight`) may use. */
export function minBitsOf(prefix: string): 4 | 8 {
  return EIGHT_BIT_LINEARS.test(prefix) ? 8 : 4;
}

/** Bits per stored element of a linear weight: 4/8 (MatMulNBits) or 16/32 (float). */
export function linearBits(precision: WeightPrecision, minBits: 4 | 8 = 4): 4 | 8 | 16 | 32 {
  if (precision === 'q4') return minBits === 8 ? 8 : 4;
  return precision === 'q8' ? 8 : precision === 'fp16' ? 16 : 32;
}

/**
 * Bits a linear weight is stored with when its source may already hold MatMulNBits-ready
 * blocks (GGUF Q4_0 = 4, Q8_0 = 8): at q4/q8 such blocks are kept as they are, never
 * requantized (widened to `minBits` where that is larger, which is exact); otherwise
 * `linearBits`.
 */
export function storedLinearBits(precision: WeightPrecision, minBits: 4 | 8 = 4, sourceBlockBits?: 4 | 8): 4 | 8 | 16 | 32 {
  if (sourceBlockBits && (precision === 'q4' || precision === 'q8')) return Math.max(sourceBlockBits, minBits) as 4 | 8;
  return linearBits(precision, minBits);
}

/**
 * Bytes a linear weight `shape` = [out, in] takes in the package: MatMulNBits blocks of
 * 32 (bits·4 bytes each, the last one zero-padded) plus one float32 scale per block, or
 * a float16/float32 matrix.
 * @param sourceBlockBits the bits of the source's exact blocks (GGUF Q4_0/Q8_0), if any
 */
export function storedBytes(shape: readonly number[], precision: WeightPrecision, minBits: 4 | 8 = 4, sourceBlockBits?: 4 | 8): number {
  const [n, k] = shape;
  const bits = storedLinearBits(precision, minBits, sourceBlockBits);
  if (bits >= 16) return (n * k * bits) / 8;
  return n * Math.ceil(k / QUANT_BLOCK_SIZE) * ((QUANT_BLOCK_SIZE * bits) / 8 + 4);
}

/** Bytes of a float tensor that is not a linear weight: float32 vectors (biases, norms), or a table/convolution at float16 unless fp32. */
export function floatStoredBytes(shape: readonly number[], precision: WeightPrecision, alwaysFloat32: boolean): number {
  const count = shape.reduce((a, b) => a * b, 1);
  return count * (alwaysFloat32 || precision === 'fp32' ? 4 : 2);
}

/**
 * Stored bytes of a block's tensors: 2-D tensors are linear weights (`storedBytes` with
 * `minBitsOf`), everything else float32.
 * @param sourceBlockBits the bits of a tensor's exact source blocks (GGUF Q4_0/Q8_0), if any
 */
export function blockStoredBytes(shapes: Map<string, number[]>, precision: WeightPrecision, sourceBlockBits: (name: string) => 4 | 8 | undefined = () => undefined): number {
  let total = 0;
  for (const [name, shape] of shapes) {
    total += shape.length === 2 ? storedBytes(shape, precision, minBitsOf(name.replace(/\.weight$/, '')), sourceBlockBits(name)) : floatStoredBytes(shape, precision, true);
  }
  return total;
}

/** A run of consecutive items packed into one shard: half-open `[start, end)` and its bytes. */
export interface PackedShard {
  start: number;
  end: number;
  bytes: number;
}

/**
 * Packs consecutive items greedily into shards of at most `maxBytes` each (an item opens
 * a new shard when it would overflow the current one).
 * @param sizes bytes of each item, in order
 * @param describe names item `i` in the error, e.g. `double block 3`
 * @throws CheckpointError when one item alone exceeds `maxBytes`
 */
export function packShards(sizes: readonly number[], maxBytes: number, describe: (index: number) => string, precision: WeightPrecision): PackedShard[] {
  const shards: PackedShard[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < sizes.length; i++) {
    if (sizes[i] > maxBytes) {
      throw new CheckpointError(
        `${describe(i)} needs ${(sizes[i] / 2 ** 20).toFixed(2)} MiB at ${precision}, more than --max-shard-mb ${(maxBytes / 2 ** 20).toFixed(2)}; raise --max-shard-mb (below 2048) or use quantized weights`,
      );
    }
    if (i > start && bytes + sizes[i] > maxBytes) {
      shards.push({ start, end: i, bytes });
      start = i;
      bytes = 0;
    }
    bytes += sizes[i];
  }
  if (sizes.length > start) shards.push({ start, end: sizes.length, bytes });
  return shards;
}
