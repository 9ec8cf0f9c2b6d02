/**
 * Graph fragments shared by the transformer, VAE and text-encoder builders. They prefer
 * ops that onnxruntime's WebGPU EP implements natively (MatMulNBits, MultiHeadAttention,
 * SimplifiedLayerNormalization, LayerNormalization, FastGelu, RotaryEmbedding).
 * Activations are float32 throughout; only the stored weights vary with the precision.
 */
import type { GraphBuilder } from './onnx-builder.ts';
import { quantizeBlockwise } from './quantize.ts';
import { exactBlockBits, ggmlBlocksToMatMulNBits } from './ggml-blocks.ts';
import { linearBits, minBitsOf, QUANT_BLOCK_SIZE, storedLinearBits } from './storage.ts';
import { float32ToFloat16Bytes } from '../formats/float16.ts';
import type { WeightPrecision } from '../package/manifest.ts';

const MS = 'com.microsoft';

/** Where a builder reads checkpoint tensors from; `read` checks the shape. */
export interface WeightSource {
  read(name: string, shape: number[]): Promise<Float32Array>;
  /**
   * The tensor's GGUF Q4_0 / Q8_0 blocks when the source stores it so (they become
   * MatMulNBits weights as they are), else undefined. Checks the shape.
   */
  blocks?(name: string, shape: number[]): Promise<SourceBlocks | undefined>;
}

/** A linear weight's blocks as a GGUF file stores them (rows of k/32 blocks). */
export interface SourceBlocks {
  type: 'Q4_0' | 'Q8_0';
  raw: Uint8Array;
}

/** What every layer needs: the graph, the weights, and how to store them. */
export interface LayerContext {
  g: GraphBuilder;
  weights: WeightSource;
  precision: WeightPrecision;
  /**
   * MatMulNBits `accuracy_level`: 0 (default) keeps the activations float; 4 quantizes them
   * to int8 per block (the DP4A path of onnxruntime's WebGPU EP). Only q4/q8 graphs use it.
   */
  accuracyLevel?: AccuracyLevel;
  /** How `multiHeadAttention` builds attention (default 'fused'). */
  attention?: AttentionKind;
}

/** MatMulNBits accuracy levels the converter writes: 0 (float activations) or 4 (int8 activations). */
export type AccuracyLevel = 0 | 4;

/**
 * 'fused': one com.microsoft.MultiHeadAttention node (onnxruntime's WebGPU EP runs it as
 * flash attention where the adapter has subgroups). 'explicit': MatMul → Softmax → MatMul,
 * which materialises the [heads, L, L] scores (flash attention off).
 */
export type AttentionKind = 'fused' | 'explicit';

/** Stores a float tensor: float32, or float16 plus a Cast when the precision is not fp32. */
export function floatWeight(ctx: LayerContext, name: string, dims: number[], values: Float32Array): string {
  if (ctx.precision === 'fp32') return ctx.g.initializer(name, 'float32', dims, values);
  const half = ctx.g.initializer(name, 'float16', dims, float32ToFloat16Bytes(values));
  return ctx.g.op('Cast', [half], { to: 1 });
}

/** Reads and stores a small float parameter (bias, norm weight) as float32. */
export async function param(ctx: LayerContext, name: string, shape: number[]): Promise<string> {
  return ctx.g.initializer(name, 'float32', shape, await ctx.weights.read(name, shape));
}

/** Options of `linear`. */
export interface LinearOptions {
  bias?: boolean;
}

/**
 * y = x · Wᵀ + b for a torch Linear `${prefix}.weight` [outF, inF] (+ `${prefix}.bias`).
 * q4/q8 → MatMulNBits (block 32; modulation-like layers stay at 8 bits, see
 * `minBitsOf`; GGUF Q4_0/Q8_0 source blocks are taken as they are, see
 * `storedLinearBits`); fp16 → float16 weights cast to float32; fp32 → MatMul. The node is
 * named after the layer (`g.layerName(prefix)`, e.g. `double.3.attn.to_q`).
 */
export async function linear(ctx: LayerContext, x: string, prefix: string, inF: number, outF: number, options: LinearOptions = {}): Promise<string> {
  const { g, precision } = ctx;
  const minBits = minBitsOf(prefix);
  const name = g.layerName(prefix);
  let y: string;
  const blocks = linearBits(precision, minBits) <= 8 ? await ctx.weights.blocks?.(`${prefix}.weight`, [outF, inF]) : undefined;
  const bits = storedLinearBits(precision, minBits, blocks && exactBlockBits(blocks.type));
  if (bits === 4 || bits === 8) {
    const q = blocks
      ? ggmlBlocksToMatMulNBits(blocks.type, blocks.raw, outF, inF, bits)
      : quantizeBlockwise(await ctx.weights.read(`${prefix}.weight`, [outF, inF]), outF, inF, bits, QUANT_BLOCK_SIZE);
    const packed = g.initializer(`${prefix}.weight_q${bits}`, 'uint8', [outF, q.blocksPerRow, q.bytesPerBlock], q.packed);
    const scales = g.initializer(`${prefix}.weight_scales`, 'float32', [outF * q.blocksPerRow], q.scales);
    const accuracy: Record<string, number> = ctx.accuracyLevel ? { accuracy_level: ctx.accuracyLevel } : {};
    y = g.op('MatMulNBits', [x, packed, scales], { K: inF, N: outF, bits, block_size: QUANT_BLOCK_SIZE, ...accuracy }, MS, name);
  } else {
    const weight = await ctx.weights.read(`${prefix}.weight`, [outF, inF]);
    y = g.op('MatMul', [x, floatWeight(ctx, `${prefix}.weight_t`, [inF, outF], transpose(weight, outF, inF))], {}, '', name);
  }
  if (options.bias === false) return y;
  return g.op('Add', [y, await param(ctx, `${prefix}.bias`, [outF])], {}, '', `${name}.bias_add`);
}

/** Transposes a row-major [rows, cols] matrix. */
export function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  return out;
}

/** LayerNorm over the last axis without affine parameters (scale 1, bias 0). */
export function layerNormPlain(g: GraphBuilder, x: string, dim: number, eps: number): string {
  const ones = g.constFloat(new Float32Array(dim).fill(1));
  const zeros = g.constFloat(new Float32Array(dim));
  return g.op('LayerNormalization', [x, ones, zeros], { axis: -1, epsilon: { float: eps } });
}

/** RMSNorm over the last axis with a learned scale: x / sqrt(mean(x²) + eps) · w. */
export function rmsNorm(g: GraphBuilder, x: string, scale: string, eps: number): string {
  return g.op('SimplifiedLayerNormalization', [x, scale], { axis: -1, epsilon: { float: eps } });
}

/** SiLU: x · sigmoid(x). */
export function silu(g: GraphBuilder, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [x])]);
}

/** GELU with the tanh approximation. */
export function geluTanh(g: GraphBuilder, x: string): string {
  return g.op('FastGelu', [x], {}, MS);
}

/** Splits the last axis (of size parts·size) of x into `parts` chunks of `size`. */
export function chunkLastAxis(g: GraphBuilder, x: string, parts: number, size: number): string[] {
  return g.opN('Split', [x, g.constInt64(new Array(parts).fill(size))], parts, { axis: -1 });
}

/** x · (1 + scale) + shift, with scale/shift [B, D] broadcast over the sequence of x [B, S, D]. */
export function modulate(g: GraphBuilder, x: string, shift: string, scale: string): string {
  const axis1 = g.constInt64([1]);
  const onePlus = g.op('Add', [g.op('Unsqueeze', [scale, axis1]), g.constFloat([1], [])]);
  return g.op('Add', [g.op('Mul', [x, onePlus]), g.op('Unsqueeze', [shift, axis1])]);
}

/** gate [B, D] broadcast over the sequence, times x [B, S, D]. */
export function gated(g: GraphBuilder, gate: string, x: string): string {
  return g.op('Mul', [g.op('Unsqueeze', [gate, g.constInt64([1])]), x]);
}

/**
 * Attention over q, k, v [1, S, heads·headDim] → [1, S, heads·headDim], scale 1/√headDim
 * unless given, built as `ctx.attention` says (see `AttentionKind`), in groups of
 * `headsPerGroup` heads: q, k and v are split along the hidden axis, each group runs its
 * own attention and the outputs are concatenated. Heads are independent, so the numbers
 * are the same. Where onnxruntime runs its unfused attention (and in the 'explicit'
 * variant) float32 scores [heads, S, S] are materialised per node; grouping bounds that
 * buffer to [headsPerGroup, S, S]. (onnxruntime-web 1.30's WebGPU EP runs fused nodes
 * through its flash kernel even without subgroups: on SwiftShader one 24-head node at
 * S = 3400 peaked at 28 MB instead of 1.06 GiB of scores, and 3-head groups at FLUX's head
 * size took the same time as one node. The grouping keeps the bound on runtimes that fall
 * back.) `headsPerGroup` ≥ heads gives one node.
 */
export function multiHeadAttention(ctx: LayerContext, q: string, k: string, v: string, heads: number, headDim: number, scale?: number, headsPerGroup = heads): string {
  const { g } = ctx;
  const one = (qg: string, kg: string, vg: string, groupHeads: number): string => {
    if ((ctx.attention ?? 'fused') === 'fused') {
      return g.op('MultiHeadAttention', [qg, kg, vg], { num_heads: groupHeads, ...(scale === undefined ? {} : { scale: { float: scale } }) }, MS);
    }
    const split = g.constInt64([0, 0, groupHeads, headDim]);
    const toHeads = (x: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [x, split])], { perm });
    // q is scaled before the product: S·headDim multiplies instead of S·S.
    const qh = g.op('Mul', [toHeads(qg, [0, 2, 1, 3]), g.constFloat([scale ?? 1 / Math.sqrt(headDim)], [])]);
    const probs = g.op('Softmax', [g.op('MatMul', [qh, toHeads(kg, [0, 2, 3, 1])])], { axis: -1 });
    const out = g.op('MatMul', [probs, toHeads(vg, [0, 2, 1, 3])]);
    return g.op('Reshape', [g.op('Transpose', [out], { perm: [0, 2, 1, 3] }), g.constInt64([0, 0, groupHeads * headDim])]);
  };
  if (headsPerGroup >= heads) return one(q, k, v, heads);
  if (!Number.isInteger(headsPerGroup) || headsPerGroup < 1 || heads % headsPerGroup !== 0) {
    throw new Error(`attention: ${headsPerGroup} heads per group do not divide ${heads} heads`);
  }
  const groups = heads / headsPerGroup;
  const sizes = g.constInt64(new Array(groups).fill(headsPerGroup * headDim));
  const [qs, ks, vs] = [q, k, v].map((x) => g.opN('Split', [x, sizes], groups, { axis: -1 }));
  return g.op('Concat', qs.map((qi, i) => one(qi, ks[i], vs[i], headsPerGroup)), { axis: -1 });
}

/**
 * Heads per attention group so that the float32 scores of one group, [group, S, S], fit
 * `maxScoreBytes` for sequences up to `maxTokens`: the largest divisor of `heads` that does
 * (at least 1).
 */
export function attentionHeadsPerGroup(heads: number, maxTokens: number, maxScoreBytes: number): number {
  const perHead = maxTokens * maxTokens * 4;
  for (let group = heads; group > 1; group--) if (heads % group === 0 && group * perHead <= maxScoreBytes) return group;
  return 1;
}
