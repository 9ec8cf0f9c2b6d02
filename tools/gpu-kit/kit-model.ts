/**
 * What the GPU kit measures: the model it builds (FLUX.1 [schnell] at its real widths with
 * one double and one single block, the real VAE decoder and one T5-XXL layer, or a tiny
 * stand-in for the CPU smoke run), the shards of that model, their inputs at an image size,
 * and their floating-point operation counts.
 */
import { FLUX_SCHNELL_TEXT_ENCODER_2, FLUX_SCHNELL_TRANSFORMER, FLUX_SCHNELL_VAE } from '../../src/convert/flux-schnell-configs.ts';
import { FAMILY_DEFAULTS } from '../../src/defaults.ts';
import type { TransformerConfig } from '../../src/convert/transformer-graphs.ts';
import type { VaeConfig } from '../../src/convert/vae-graph.ts';
import { imageIds, latentSize, LATENT_CHANNELS } from '../../src/pipeline/latents.ts';
import { torchRandn } from '../../src/pipeline/randn.ts';
import { jointIds, ropeTables } from '../../src/pipeline/rope.ts';

/** The kit measures FLUX.1 [schnell]'s T5 length. */
const T5_SEQUENCE_LENGTH = FAMILY_DEFAULTS.schnell.t5Tokens;

/** The checkpoint the kit writes and the sizes it runs. */
export interface KitModel {
  name: 'full-width' | 'small';
  transformer: typeof FLUX_SCHNELL_TRANSFORMER;
  vae: typeof FLUX_SCHNELL_VAE;
  t5: typeof FLUX_SCHNELL_TEXT_ENCODER_2;
  /** Text tokens fed to the transformer shards (FLUX.1 [schnell]: 256). */
  textTokens: number;
  /** Image sides (pixels) every transformer and VAE shard is timed at. */
  sizes: number[];
  /** Image side at which every variant is checked against the CPU reference. */
  checkSize: number;
}

/** FLUX.1 [schnell] at full width: 1 + 1 transformer blocks, the real VAE decoder, one T5-XXL layer. */
export const FULL_WIDTH_MODEL: KitModel = {
  name: 'full-width',
  transformer: { ...FLUX_SCHNELL_TRANSFORMER, num_layers: 1, num_single_layers: 1 },
  vae: FLUX_SCHNELL_VAE,
  t5: { ...FLUX_SCHNELL_TEXT_ENCODER_2, num_layers: 1 },
  textTokens: 256,
  sizes: [512, 1024],
  checkSize: 512,
};

/** The same architecture at toy widths: the kit's CPU smoke run (seconds on 2 cores). */
export const SMALL_MODEL: KitModel = {
  name: 'small',
  transformer: { ...FLUX_SCHNELL_TRANSFORMER, attention_head_dim: 16, axes_dims_rope: [4, 6, 6], num_attention_heads: 2, joint_attention_dim: 32, pooled_projection_dim: 16, num_layers: 1, num_single_layers: 1 },
  vae: { ...FLUX_SCHNELL_VAE, block_out_channels: [8, 16, 16, 16], layers_per_block: 1, norm_num_groups: 4 },
  t5: { ...FLUX_SCHNELL_TEXT_ENCODER_2, d_model: 32, d_kv: 8, num_heads: 4, d_ff: 64, vocab_size: 100, num_layers: 1 },
  // 16 text + 64 image tokens at the check size: ≥ 32 tokens, where onnxruntime's WebGPU
  // attention leaves its single-query (decode) kernel for the prefill flash-attention kernel.
  textTokens: 16,
  sizes: [32, 64],
  checkSize: 64,
};

/** The shards of the kit's model, by what they are. */
export type ShardKind = 'embed' | 'double' | 'single' | 'head' | 'vae' | 't5-embed' | 't5-layer';
export const SHARD_KINDS: ShardKind[] = ['embed', 'double', 'single', 'head', 'vae', 't5-embed', 't5-layer'];

/** Which shard a converter job (graph name) is. */
export function shardKindOf(graphName: string): ShardKind | undefined {
  if (graphName === 'transformer_embed') return 'embed';
  if (graphName === 'transformer_head') return 'head';
  if (graphName === 'vae_decoder') return 'vae';
  if (graphName === 'text_encoder_t5_embed') return 't5-embed';
  if (graphName.startsWith('text_encoder_t5_blocks_')) return 't5-layer';
  if (/^transformer_blocks_\d+_double_/.test(graphName)) return 'double';
  if (/^transformer_blocks_\d+_single_/.test(graphName)) return 'single';
  return undefined;
}

/** Whether a shard's cost depends on the image size (T5 always encodes 256 tokens). */
export function dependsOnImageSize(kind: ShardKind): boolean {
  return kind !== 't5-embed' && kind !== 't5-layer';
}

/** A float32 or int64 input tensor as plain data. */
export interface InputData {
  type: 'float32' | 'int64';
  dims: number[];
  data: Float32Array | BigInt64Array;
}

/**
 * The inputs of a shard at an image side, deterministic (seeded normal values like the
 * activations the shard sees; RoPE tables and token ids as the pipeline makes them).
 */
export function shardInputs(model: KitModel, kind: ShardKind, size: number, seed = 1234): Record<string, InputData> {
  const t = model.transformer as TransformerConfig;
  const d = t.num_attention_heads * t.attention_head_dim;
  const { h, w } = latentSize(size, size);
  const imageTokens = (h / 2) * (w / 2);
  const txt = model.textTokens;
  const f = (dims: number[], salt: number, scale = 1): InputData => {
    const data = torchRandn(dims, seed + salt);
    if (scale !== 1) for (let i = 0; i < data.length; i++) data[i] *= scale;
    return { type: 'float32', dims, data };
  };
  const rope = () => {
    const r = ropeTables(jointIds(txt, imageIds(h, w)), t.axes_dims_rope);
    return {
      rope_cos: { type: 'float32' as const, dims: [r.tokens, r.half], data: r.cos },
      rope_sin: { type: 'float32' as const, dims: [r.tokens, r.half], data: r.sin },
    };
  };
  const seq = T5_SEQUENCE_LENGTH;
  switch (kind) {
    case 'embed':
      return {
        hidden_states: f([1, imageTokens, t.in_channels], 1),
        encoder_hidden_states: f([1, txt, t.joint_attention_dim], 2),
        pooled_projections: f([1, t.pooled_projection_dim], 3),
        timestep: { type: 'float32', dims: [1], data: Float32Array.of(1) },
      };
    case 'double':
    case 'single':
      return { img: f([1, imageTokens, d], 4), txt: f([1, txt, d], 5), temb: f([1, d], 6), ...rope() };
    case 'head':
      return { img: f([1, imageTokens, d], 4), temb: f([1, d], 6) };
    case 'vae':
      return { latents: f([1, LATENT_CHANNELS, h, w], 7) };
    case 't5-embed':
      return { input_ids: { type: 'int64', dims: [1, seq], data: BigInt64Array.from({ length: seq }, (_, i) => BigInt((i * 7919) % model.t5.vocab_size)) } };
    case 't5-layer':
      return { hidden: f([1, seq, model.t5.d_model], 8), position_bias: f([1, model.t5.num_heads, seq, seq], 9, 0.1) };
  }
}

/**
 * Outputs that are a residual update of an input: the accuracy check compares the update
 * (output − input), the part the shard computes, rather than the input carried through.
 */
export const RESIDUAL_OF: Partial<Record<ShardKind, Record<string, string>>> = {
  double: { img_out: 'img', txt_out: 'txt' },
  single: { img_out: 'img', txt_out: 'txt' },
};

/**
 * Floating-point operations of one run of a shard at an image side: 2 per multiply-add of
 * every matrix product, convolution and attention product (q·kᵀ and p·v); element-wise
 * work, norms and softmax are not counted. The AdaLN modulation linears act on one token.
 */
export function shardFlops(model: KitModel, kind: ShardKind, size: number): number {
  const t = model.transformer as TransformerConfig;
  const d = t.num_attention_heads * t.attention_head_dim;
  const { h, w } = latentSize(size, size);
  const img = (h / 2) * (w / 2);
  const txt = model.textTokens;
  const joint = img + txt;
  const attention = (tokens: number, width: number) => 2 * tokens * tokens * width; // q·kᵀ and p·v
  let macs = 0;
  switch (kind) {
    case 'embed':
      macs = img * t.in_channels * d + txt * t.joint_attention_dim * d + 256 * d + d * d + t.pooled_projection_dim * d + d * d;
      break;
    case 'double':
      // per stream: q, k, v, out (4·d²) + feed-forward (2·4·d²) = 12·d² per token; modulation 2 × d·6d
      macs = 12 * d * d * joint + 12 * d * d + attention(joint, d);
      break;
    case 'single':
      // q, k, v (3·d²) + mlp in (4·d²) + proj_out (5d·d) = 12·d² per token; modulation d·3d
      macs = 12 * d * d * joint + 3 * d * d + attention(joint, d);
      break;
    case 'head':
      macs = d * 2 * d + img * d * t.in_channels;
      break;
    case 'vae':
      macs = vaeDecoderMacs(model.vae as unknown as VaeConfig, h, w);
      break;
    case 't5-embed':
      macs = 0;
      break;
    case 't5-layer': {
      const c = model.t5;
      const inner = c.num_heads * c.d_kv;
      const seq = T5_SEQUENCE_LENGTH;
      macs = seq * (4 * c.d_model * inner + 3 * c.d_model * c.d_ff) + attention(seq, inner);
      break;
    }
  }
  return 2 * macs;
}

/** Multiply-adds of the VAE decoder for latents h × w (convolutions, mid-block attention). */
function vaeDecoderMacs(c: VaeConfig, h: number, w: number): number {
  const reversed = [...c.block_out_channels].reverse();
  let side = h * w;
  const conv = (inC: number, outC: number, k: number) => inC * outC * k * k * side;
  const resnet = (inC: number, outC: number) => conv(inC, outC, 3) + conv(outC, outC, 3) + (inC === outC ? 0 : conv(inC, outC, 1));
  const top = reversed[0];
  let macs = conv(c.latent_channels, top, 3) + 2 * resnet(top, top);
  if (c.mid_block_add_attention) macs += 4 * side * top * top + 2 * side * side * top;
  let prev = top;
  reversed.forEach((outC, i) => {
    for (let j = 0; j <= c.layers_per_block; j++) macs += resnet(j === 0 ? prev : outC, outC);
    prev = outC;
    if (i < reversed.length - 1) {
      side *= 4;
      macs += conv(outC, outC, 3);
    }
  });
  return macs + conv(reversed[reversed.length - 1], c.out_channels, 3);
}
