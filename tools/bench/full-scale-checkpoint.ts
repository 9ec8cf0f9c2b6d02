/**
 * A random-weight FLUX.1 [schnell] checkpoint with the published configs, laid out like
 * the published repository: `transformer/` (19 double + 38 single blocks, numbered bf16
 * shards + index), `text_encoder/` (CLIP-L), `text_encoder_2/` (T5 v1.1 XXL encoder,
 * 2 numbered shards + index), `vae/` (the decoder of the real VAE; the converter reads
 * nothing else), `tokenizer/` and `tokenizer_2/` (the real tokenizer files from
 * ../shared/real-tokenizers), `scheduler/`. About 34 GB at full scale.
 *
 * The scale knob keeps every width and shrinks only the layer counts, so a reduced run
 * proves the same path with smaller files: `FULL_SCALE_BLOCKS="double,single,t5Layers"`
 * (default "19,38,24", the real model).
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomWeights, writeCheckpointComponent } from '../checkpoint-writer.ts';
import { expectedClipTensors, type ClipTextConfig } from '../../src/convert/clip-graph.ts';
import {
  FLUX_SCHNELL_SCHEDULER,
  FLUX_SCHNELL_TEXT_ENCODER,
  FLUX_SCHNELL_TEXT_ENCODER_2,
  FLUX_SCHNELL_TRANSFORMER,
  FLUX_SCHNELL_VAE,
} from '../../src/convert/flux-schnell-configs.ts';
import { expectedT5Tensors, type T5Config } from '../../src/convert/t5-graph.ts';
import { expectedTransformerTensors, type TransformerConfig } from '../../src/convert/transformer-graphs.ts';
import { expectedVaeDecoderTensors, type VaeConfig } from '../../src/convert/vae-graph.ts';

/** Layer counts of the checkpoint (widths are always the published ones). */
export interface FullScaleShape {
  doubleBlocks: number;
  singleBlocks: number;
  t5Layers: number;
}

/** The published model's layer counts. */
export const FULL_SCALE: FullScaleShape = {
  doubleBlocks: FLUX_SCHNELL_TRANSFORMER.num_layers,
  singleBlocks: FLUX_SCHNELL_TRANSFORMER.num_single_layers,
  t5Layers: FLUX_SCHNELL_TEXT_ENCODER_2.num_layers,
};

/**
 * The shape from `FULL_SCALE_BLOCKS` ("double,single,t5Layers", each at least 1 and at most
 * the published count), or the full model when it is not set.
 * @throws Error naming the variable when it is malformed
 */
export function fullScaleShape(value = process.env.FULL_SCALE_BLOCKS): FullScaleShape {
  if (value === undefined || value.trim() === '') return { ...FULL_SCALE };
  const parts = value.split(',').map((p) => Number(p.trim()));
  const max = [FULL_SCALE.doubleBlocks, FULL_SCALE.singleBlocks, FULL_SCALE.t5Layers];
  if (parts.length !== 3 || parts.some((n, i) => !Number.isInteger(n) || n < 1 || n > max[i])) {
    throw new Error(`FULL_SCALE_BLOCKS must be "double,single,t5Layers" with 1-${max[0]}, 1-${max[1]} and 1-${max[2]} (got "${value}")`);
  }
  return { doubleBlocks: parts[0], singleBlocks: parts[1], t5Layers: parts[2] };
}

/** Where the real tokenizer files are (the shared folder beside the worktree). */
export const REAL_TOKENIZERS = resolve(import.meta.dirname, '../../../shared/real-tokenizers');

/** Files per sharded component, as published: the transformer in 3, the T5 encoder in 2. */
const TRANSFORMER_SHARDS = 3;
const T5_SHARDS = 2;

/** bf16 bytes of a tensor list, split into `shards` files of about equal size. */
function shardBytes(tensors: Map<string, number[]>, shards: number): number {
  let total = 0;
  for (const shape of tensors.values()) total += shape.reduce((a, b) => a * b, 1) * 2;
  return Math.ceil(total / shards);
}

/** What `writeFullScaleCheckpoint` wrote. */
export interface FullScaleCheckpoint {
  dir: string;
  shape: FullScaleShape;
  /** Tensor bytes per component (bf16). */
  bytes: { transformer: number; textEncoder: number; textEncoder2: number; vae: number };
  /** Safetensors files per component. */
  files: { transformer: string[]; textEncoder: string[]; textEncoder2: string[]; vae: string[] };
}

/**
 * Writes the checkpoint into `dir`, one tensor at a time (memory stays near the largest
 * tensor: T5's 32128×4096 embedding, 0.5 GB as float32).
 * @param log progress lines
 * @throws Error when ../shared/real-tokenizers is missing
 */
export function writeFullScaleCheckpoint(dir: string, shape: FullScaleShape, options: { seed?: number; log?: (line: string) => void } = {}): FullScaleCheckpoint {
  const seed = options.seed ?? 1234;
  const log = options.log ?? (() => {});
  if (!existsSync(join(REAL_TOKENIZERS, 'tokenizer')) || !existsSync(join(REAL_TOKENIZERS, 'tokenizer_2'))) {
    throw new Error(`the real tokenizers are missing: ${REAL_TOKENIZERS}/tokenizer and tokenizer_2 are needed (CLIP vocab 49408, T5 vocab 32128)`);
  }
  const transformerConfig = { ...FLUX_SCHNELL_TRANSFORMER, num_layers: shape.doubleBlocks, num_single_layers: shape.singleBlocks };
  const t5Config = { ...FLUX_SCHNELL_TEXT_ENCODER_2, num_layers: shape.t5Layers };

  log(`  transformer: ${shape.doubleBlocks} double + ${shape.singleBlocks} single blocks`);
  const transformerTensors = expectedTransformerTensors(transformerConfig as TransformerConfig);
  const transformer = writeCheckpointComponent(join(dir, 'transformer'), transformerConfig, transformerTensors, randomWeights(seed), {
    dtype: 'BF16',
    maxShardBytes: shardBytes(transformerTensors, TRANSFORMER_SHARDS),
  });
  log('  text_encoder: CLIP-L');
  const clip = writeCheckpointComponent(join(dir, 'text_encoder'), FLUX_SCHNELL_TEXT_ENCODER, expectedClipTensors(FLUX_SCHNELL_TEXT_ENCODER as unknown as ClipTextConfig), randomWeights(seed + 1), {
    dtype: 'BF16',
    baseName: 'model',
  });
  log(`  text_encoder_2: T5 v1.1 XXL encoder, ${shape.t5Layers} layers`);
  const t5Tensors = expectedT5Tensors(t5Config as unknown as T5Config);
  const t5 = writeCheckpointComponent(join(dir, 'text_encoder_2'), t5Config, t5Tensors, randomWeights(seed + 2), {
    dtype: 'BF16',
    baseName: 'model',
    maxShardBytes: shardBytes(t5Tensors, T5_SHARDS),
  });
  log('  vae: the decoder');
  const vae = writeCheckpointComponent(join(dir, 'vae'), FLUX_SCHNELL_VAE, expectedVaeDecoderTensors(FLUX_SCHNELL_VAE as unknown as VaeConfig), randomWeights(seed + 3), { dtype: 'BF16' });
  for (const folder of ['tokenizer', 'tokenizer_2']) cpSync(join(REAL_TOKENIZERS, folder), join(dir, folder), { recursive: true });
  mkdirSync(join(dir, 'scheduler'), { recursive: true });
  writeFileSync(join(dir, 'scheduler', 'scheduler_config.json'), `${JSON.stringify(FLUX_SCHNELL_SCHEDULER, null, 2)}\n`);
  return {
    dir,
    shape,
    bytes: { transformer: transformer.totalBytes, textEncoder: clip.totalBytes, textEncoder2: t5.totalBytes, vae: vae.totalBytes },
    files: { transformer: transformer.files, textEncoder: clip.files, textEncoder2: t5.files, vae: vae.files },
  };
}
