/**
 * `flux-webgpu demo-model`: a complete tiny FLUX package (CLIP, T5, transformer, VAE,
 * tokenizers) from fixed random weights. It is made the way a real package is made: a
 * checkpoint in the published diffusers layout is written to a temporary folder and
 * converted by the same converter. Its images are noise-like by nature.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest, WeightPrecision } from '../../src/package/manifest.ts';
import { randomWeights, writeCheckpointComponent } from '../checkpoint-writer.ts';
import { expectedClipTensors } from '../../src/convert/clip-graph.ts';
import { convertCheckpoint } from '../convert/convert-local.ts';
import { FLUX_SCHNELL_SCHEDULER } from '../../src/convert/flux-schnell-configs.ts';
import { expectedT5Tensors } from '../../src/convert/t5-graph.ts';
import { expectedTransformerTensors, validateTransformerConfig } from '../../src/convert/transformer-graphs.ts';
import { expectedVaeDecoderTensors, validateVaeConfig } from '../../src/convert/vae-graph.ts';
import { writeTinyClipTokenizer, writeTinyT5Tokenizer } from './tiny-tokenizers.ts';

/** The demo model's id in the registry and its manifest. */
export const DEMO_MODEL_ID = 'flux-webgpu/tiny-demo';

const TEXT_WIDTH = 32;
const POOLED_WIDTH = 32;

/** Diffusers configs of the demo model's components (the real FLUX architecture, tiny widths). */
export function demoConfigs(clipVocab: number, clipEos: number, t5Vocab: number) {
  return {
    transformer: {
      _class_name: 'FluxTransformer2DModel',
      _diffusers_version: '0.32.2',
      attention_head_dim: 16,
      axes_dims_rope: [4, 6, 6],
      guidance_embeds: false,
      in_channels: 64,
      joint_attention_dim: TEXT_WIDTH,
      num_attention_heads: 2,
      num_layers: 2,
      num_single_layers: 2,
      out_channels: null,
      patch_size: 1,
      pooled_projection_dim: POOLED_WIDTH,
    },
    vae: {
      _class_name: 'AutoencoderKL',
      _diffusers_version: '0.32.2',
      act_fn: 'silu',
      block_out_channels: [8, 16, 16, 16],
      down_block_types: Array(4).fill('DownEncoderBlock2D'),
      force_upcast: true,
      in_channels: 3,
      latent_channels: 16,
      latents_mean: null,
      latents_std: null,
      layers_per_block: 1,
      mid_block_add_attention: true,
      norm_num_groups: 4,
      out_channels: 3,
      sample_size: 64,
      scaling_factor: 0.3611,
      shift_factor: 0.1159,
      up_block_types: Array(4).fill('UpDecoderBlock2D'),
      use_post_quant_conv: false,
      use_quant_conv: false,
    },
    textEncoder: {
      architectures: ['CLIPTextModel'],
      model_type: 'clip_text_model',
      vocab_size: clipVocab,
      hidden_size: POOLED_WIDTH,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      max_position_embeddings: 77,
      hidden_act: 'quick_gelu',
      layer_norm_eps: 1e-5,
      bos_token_id: clipEos - 1,
      eos_token_id: 2,
      pad_token_id: 1,
      projection_dim: POOLED_WIDTH,
      torch_dtype: 'float32',
    },
    textEncoder2: {
      architectures: ['T5EncoderModel'],
      model_type: 't5',
      vocab_size: t5Vocab,
      d_model: TEXT_WIDTH,
      d_kv: 8,
      d_ff: 64,
      num_layers: 2,
      num_heads: 4,
      relative_attention_num_buckets: 32,
      relative_attention_max_distance: 128,
      feed_forward_proj: 'gated-gelu',
      dense_act_fn: 'gelu_new',
      is_gated_act: true,
      layer_norm_epsilon: 1e-6,
      dropout_rate: 0.1,
      pad_token_id: 0,
      eos_token_id: 1,
      torch_dtype: 'float32',
    },
    scheduler: FLUX_SCHNELL_SCHEDULER,
  };
}

/**
 * Writes the tiny checkpoint (diffusers layout, F32) into `dir`.
 * @param seed base seed of the random weights (each component derives its own)
 */
export function writeDemoCheckpoint(dir: string, seed = 20241122): void {
  const clip = writeTinyClipTokenizer(dir);
  const t5 = writeTinyT5Tokenizer(dir);
  const configs = demoConfigs(clip.vocabSize, clip.eosId, t5.vocabSize);
  const transformer = validateTransformerConfig(configs.transformer, 'demo transformer');
  writeCheckpointComponent(join(dir, 'transformer'), configs.transformer, expectedTransformerTensors(transformer), randomWeights(seed));
  const vae = validateVaeConfig(configs.vae, 'demo vae');
  writeCheckpointComponent(join(dir, 'vae'), configs.vae, expectedVaeDecoderTensors(vae), randomWeights(seed + 1));
  writeCheckpointComponent(join(dir, 'text_encoder'), configs.textEncoder, expectedClipTensors(configs.textEncoder as never), randomWeights(seed + 2), { baseName: 'model' });
  writeCheckpointComponent(join(dir, 'text_encoder_2'), configs.textEncoder2, expectedT5Tensors(configs.textEncoder2 as never), randomWeights(seed + 3), { baseName: 'model' });
  mkdirSync(join(dir, 'scheduler'), { recursive: true });
  writeFileSync(join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify(configs.scheduler, null, 2));
}

/** Options of `writeDemoModel`. */
export interface DemoModelOptions {
  out: string;
  /** Default fp32 (the browser tests compare it with the Node CLI). */
  weights?: WeightPrecision;
  force?: boolean;
}

/** Writes the demo package to `out` and returns its manifest. */
export async function writeDemoModel(options: DemoModelOptions): Promise<Manifest> {
  const work = await mkdtemp(join(tmpdir(), 'flux-demo-'));
  try {
    writeDemoCheckpoint(work);
    return await convertCheckpoint({ checkpoint: work, out: options.out, weights: options.weights ?? 'fp32', force: options.force, modelId: DEMO_MODEL_ID });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
