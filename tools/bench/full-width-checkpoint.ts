/**
 * A FLUX.1 [schnell] checkpoint at the real widths but with one double and one single
 * block: every tensor has the published model's shape (3072-wide transformer, the real
 * VAE decoder), so the converter and the runtime see real-sized matrices while the whole
 * thing stays about 1.2 GB. Random bf16 weights, transformer written as numbered shards
 * with an index like the published repos.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomWeights, writeCheckpointComponent } from '../checkpoint-writer.ts';
import { FLUX_SCHNELL_SCHEDULER, FLUX_SCHNELL_TRANSFORMER, FLUX_SCHNELL_VAE } from '../../src/convert/flux-schnell-configs.ts';
import { expectedTransformerTensors, type TransformerConfig } from '../../src/convert/transformer-graphs.ts';
import { expectedVaeDecoderTensors, type VaeConfig } from '../../src/convert/vae-graph.ts';

/** black-forest-labs/FLUX.1-schnell transformer/config.json with 1 + 1 blocks (the real one has 19 + 38). */
export const FULL_WIDTH_TRANSFORMER_CONFIG = { ...FLUX_SCHNELL_TRANSFORMER, num_layers: 1, num_single_layers: 1 };

/** What `writeFullWidthCheckpoint` wrote. */
export interface FullWidthCheckpoint {
  dir: string;
  transformerFiles: string[];
  vaeFiles: string[];
  /** Tensor bytes as stored (bf16). */
  transformerBytes: number;
  vaeBytes: number;
  tensorCount: number;
  /** The largest tensor of either component, with its size as float32. */
  largest: { name: string; shape: number[]; float32Bytes: number };
}

/**
 * Writes `dir/{transformer,vae,scheduler}`.
 * @param maxShardBytes transformer shard size (the VAE is one file, as published)
 */
export function writeFullWidthCheckpoint(dir: string, options: { seed?: number; maxShardBytes?: number } = {}): FullWidthCheckpoint {
  const seed = options.seed ?? 1234;
  const transformerTensors = expectedTransformerTensors(FULL_WIDTH_TRANSFORMER_CONFIG as TransformerConfig);
  const vaeTensors = expectedVaeDecoderTensors(FLUX_SCHNELL_VAE as unknown as VaeConfig);
  let largest = { name: '', shape: [] as number[], float32Bytes: 0 };
  for (const [name, shape] of [...transformerTensors, ...vaeTensors]) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    if (bytes > largest.float32Bytes) largest = { name, shape, float32Bytes: bytes };
  }
  const transformer = writeCheckpointComponent(join(dir, 'transformer'), FULL_WIDTH_TRANSFORMER_CONFIG, transformerTensors, randomWeights(seed), {
    dtype: 'BF16',
    maxShardBytes: options.maxShardBytes ?? 512 * 2 ** 20,
  });
  const vae = writeCheckpointComponent(join(dir, 'vae'), FLUX_SCHNELL_VAE, vaeTensors, randomWeights(seed + 1), { dtype: 'BF16' });
  mkdirSync(join(dir, 'scheduler'), { recursive: true });
  writeFileSync(join(dir, 'scheduler', 'scheduler_config.json'), `${JSON.stringify(FLUX_SCHNELL_SCHEDULER, null, 2)}\n`);
  return {
    dir,
    transformerFiles: transformer.files,
    vaeFiles: vae.files,
    transformerBytes: transformer.totalBytes,
    vaeBytes: vae.totalBytes,
    tensorCount: transformerTensors.size + vaeTensors.size,
    largest,
  };
}
