/**
 * Estimates a package's weight bytes from configs alone, with the storage rules the graph
 * builders use: linear weights quantized per precision (modulation layers and the VAE's
 * attention at 8-bit minimum for q4), embedding tables and convolutions float16 unless
 * fp32, vectors float32. Used for the registry's size of packages we cannot build here.
 */
import type { WeightPrecision } from '../package/manifest.ts';
import { expectedClipTensors, validateClipConfig } from './clip-graph.ts';
import { FAMILY_DEFAULTS } from '../defaults.ts';
import { familyOfTransformerConfig } from '../models/family.ts';
import { floatStoredBytes, minBitsOf, storedBytes, storedLinearBits, QUANT_BLOCK_SIZE } from './storage.ts';
import { expectedT5Tensors, validateT5Config } from './t5-graph.ts';
import { expectedTransformerTensors, validateTransformerConfig } from './transformer-graphs.ts';
import { expectedVaeDecoderTensors, validateVaeConfig } from './vae-graph.ts';

/** 2-D tensors that are tables (gathered or added), not linear weights. */
const TABLES = /embedding|shared\.weight|embed_tokens|relative_attention_bias/;

/** The bits of a tensor's exact MatMulNBits-ready source blocks (GGUF Q4_0 / Q8_0), if any. */
export type SourceBlockBits = (name: string) => 4 | 8 | undefined;

/** Whether a tensor is stored as a linear weight (rather than a vector, table or convolution). */
function isLinear(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && !TABLES.test(name);
}

function tensorBytes(name: string, shape: number[], precision: WeightPrecision, sourceBlockBits: SourceBlockBits): number {
  if (shape.length === 1 || /relative_attention_bias/.test(name)) return floatStoredBytes(shape, precision, true);
  if (!isLinear(name, shape)) return floatStoredBytes(shape, precision, false);
  return storedBytes(shape, precision, minBitsOf(name.replace(/\.weight$/, '')), sourceBlockBits(name));
}

/**
 * Stored bytes of a set of tensors.
 * @param sourceBlockBits the bits of a tensor's exact source blocks (GGUF Q4_0/Q8_0 stay as they are), if any
 */
export function estimateTensorBytes(shapes: Map<string, number[]>, precision: WeightPrecision, sourceBlockBits: SourceBlockBits = () => undefined): number {
  let total = 0;
  for (const [name, shape] of shapes) total += tensorBytes(name, shape, precision, sourceBlockBits);
  return total;
}

/**
 * Weight bytes of a set of tensors once uploaded for float32 compute (what the manifest's
 * `requirements` will say): a quantized linear as its packed blocks plus scales (the
 * largest buffer being the blocks), every other tensor as float32 (float16 weights are
 * cast to float32 on the GPU).
 * @returns `total` and `largest` (one buffer), in bytes
 */
export function estimateUploadBytes(shapes: Map<string, number[]>, precision: WeightPrecision, sourceBlockBits: SourceBlockBits = () => undefined): { total: number; largest: number } {
  let total = 0;
  let largest = 0;
  for (const [name, shape] of shapes) {
    const elements = shape.reduce((a, b) => a * b, 1);
    let bytes = elements * 4;
    let buffer = bytes;
    if (isLinear(name, shape) && !/relative_attention_bias/.test(name)) {
      const bits = storedLinearBits(precision, minBitsOf(name.replace(/\.weight$/, '')), sourceBlockBits(name));
      if (bits < 16) {
        const blocks = shape[0] * Math.ceil(shape[1] / QUANT_BLOCK_SIZE);
        buffer = blocks * ((QUANT_BLOCK_SIZE * bits) / 8);
        bytes = buffer + blocks * 4;
      }
    }
    total += bytes;
    largest = Math.max(largest, buffer);
  }
  return { total, largest };
}

/** Bytes of the constants the CLIP graph adds to its weights: the causal mask [S, S] float32. */
export function clipConstantBytes(maxPositions: number): number {
  return maxPositions ** 2 * 4;
}

/**
 * Bytes of the constants the T5 embed graph adds to its weights: the relative-position buckets [S, S] int64.
 * @param sequenceLength T5 tokens: 256 for FLUX.1 [schnell], 512 for [dev] (`FAMILY_DEFAULTS`)
 */
export function t5ConstantBytes(sequenceLength: number): number {
  return sequenceLength ** 2 * 8;
}

/** Diffusers/transformers configs of a FLUX checkpoint's components. */
export interface ComponentConfigs {
  transformer: Record<string, unknown>;
  vae: Record<string, unknown>;
  textEncoder?: Record<string, unknown>;
  textEncoder2?: Record<string, unknown>;
}

/** Estimated weight bytes per component and in total at `precision`. */
export function estimatePackageWeightBytes(configs: ComponentConfigs, precision: WeightPrecision): { total: number; components: Record<string, number> } {
  const transformer = validateTransformerConfig(configs.transformer, 'transformer');
  const components: Record<string, number> = {
    transformer: estimateTensorBytes(expectedTransformerTensors(transformer), precision),
    vae: estimateTensorBytes(expectedVaeDecoderTensors(validateVaeConfig(configs.vae, 'vae')), precision),
  };
  if (configs.textEncoder) {
    const clip = validateClipConfig(configs.textEncoder, 'text_encoder');
    // + the causal mask constant [S,S] float32
    components.textEncoder = estimateTensorBytes(expectedClipTensors(clip), precision) + clipConstantBytes(clip.max_position_embeddings);
  }
  if (configs.textEncoder2) {
    // + the relative-position bucket constant [S,S] int64
    components.textEncoder2 = estimateTensorBytes(expectedT5Tensors(validateT5Config(configs.textEncoder2, 'text_encoder_2')), precision) + t5ConstantBytes(FAMILY_DEFAULTS[familyOfTransformerConfig(transformer)].t5Tokens);
  }
  return { total: Object.values(components).reduce((a, b) => a + b, 0), components };
}
