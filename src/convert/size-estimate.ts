/**
 * Estimates a package's weight bytes from configs alone, with the storage rules the graph
 * builders use: linear weights quantized per precision (modulation layers and the VAE's
 * attention at 8-bit minimum for q4), embedding tables and convolutions float16 unless
 * fp32, vectors float32. Used for the registry's size of packages we cannot build here.
 */
import type { WeightPrecision } from '../package/manifest.ts';
import { expectedClipTensors, validateClipConfig } from './clip-graph.ts';
import { floatStoredBytes, minBitsOf, storedBytes } from './storage.ts';
import { T5_SEQUENCE_LENGTH } from './components.ts';
import { expectedT5Tensors, validateT5Config } from './t5-graph.ts';
import { expectedTransformerTensors, validateTransformerConfig } from './transformer-graphs.ts';
import { expectedVaeDecoderTensors, validateVaeConfig } from './vae-graph.ts';

/** 2-D tensors that are tables (gathered or added), not linear weights. */
const TABLES = /embedding|shared\.weight|embed_tokens|relative_attention_bias/;

function tensorBytes(name: string, shape: number[], precision: WeightPrecision): number {
  if (shape.length === 1 || /relative_attention_bias/.test(name)) return floatStoredBytes(shape, precision, true);
  if (shape.length !== 2 || TABLES.test(name)) return floatStoredBytes(shape, precision, false);
  return storedBytes(shape, precision, minBitsOf(name.replace(/\.weight$/, '')));
}

/** Stored bytes of a set of tensors. */
export function estimateTensorBytes(shapes: Map<string, number[]>, precision: WeightPrecision): number {
  let total = 0;
  for (const [name, shape] of shapes) total += tensorBytes(name, shape, precision);
  return total;
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
  const components: Record<string, number> = {
    transformer: estimateTensorBytes(expectedTransformerTensors(validateTransformerConfig(configs.transformer, 'transformer')), precision),
    vae: estimateTensorBytes(expectedVaeDecoderTensors(validateVaeConfig(configs.vae, 'vae')), precision),
  };
  if (configs.textEncoder) {
    const clip = validateClipConfig(configs.textEncoder, 'text_encoder');
    // + the causal mask constant [S,S] float32
    components.textEncoder = estimateTensorBytes(expectedClipTensors(clip), precision) + clip.max_position_embeddings ** 2 * 4;
  }
  if (configs.textEncoder2) {
    // + the relative-position bucket constant [S,S] int64
    components.textEncoder2 = estimateTensorBytes(expectedT5Tensors(validateT5Config(configs.textEncoder2, 'text_encoder_2')), precision) + T5_SEQUENCE_LENGTH ** 2 * 8;
  }
  return { total: Object.values(components).reduce((a, b) => a + b, 0), components };
}
