/**
 * The FLUX transformer (diffusers `FluxTransformer2DModel`, v0.32) as a set of ONNX
 * shards that all speak the same interface:
 *
 *   embed:  hidden_states [1,I,in], encoder_hidden_states [1,T,joint],
 *           pooled_projections [1,pooled], timestep [1] (= sigma),
 *           guidance [1] (the guidance scale; guidance-distilled models only) → img, txt, temb
 *   blocks: img [1,I,D], txt [1,T,D], temb [1,D], rope_cos/rope_sin [T+I, head/2] → img, txt
 *   head:   img, temb                                                    → noise_pred [1,I,in]
 *
 * Text tokens come first in the joint sequence (RoPE tables follow that order).
 */
import { CheckpointError } from '../errors.ts';
import { attentionHeadsPerGroup, chunkLastAxis, gated, geluTanh, layerNormPlain, linear, modulate, multiHeadAttention, param, rmsNorm, silu, type LayerContext } from './layers.ts';
import type { WeightPrecision } from '../package/manifest.ts';
import { DEFAULTS, LIMITS } from '../defaults.ts';
import { blockStoredBytes, packShards } from './storage.ts';

const MS = 'com.microsoft';
const NORM_EPS = 1e-6;

/** The diffusers config fields the converter uses. */
export interface TransformerConfig {
  in_channels: number;
  num_layers: number;
  num_single_layers: number;
  attention_head_dim: number;
  num_attention_heads: number;
  joint_attention_dim: number;
  pooled_projection_dim: number;
  axes_dims_rope: number[];
  guidance_embeds: boolean;
  patch_size: number;
  out_channels: number | null;
}

/** inner dimension = heads × head dim. */
export function innerDim(c: TransformerConfig): number {
  return c.num_attention_heads * c.attention_head_dim;
}

/**
 * Checks a transformer `config.json` against what this converter supports.
 * @throws CheckpointError naming the file and the field.
 */
export function validateTransformerConfig(raw: unknown, file: string): TransformerConfig {
  const c = raw as Partial<TransformerConfig> & { _class_name?: string };
  const bad = (field: string, why: string): never => {
    throw new CheckpointError(`${file}: "${field}" ${why}`, file, field);
  };
  if (!c || typeof c !== 'object') bad('(root)', 'is not a JSON object');
  if (c._class_name !== 'FluxTransformer2DModel') bad('_class_name', `must be "FluxTransformer2DModel" (got ${JSON.stringify(c._class_name)})`);
  for (const field of ['in_channels', 'num_layers', 'num_single_layers', 'attention_head_dim', 'num_attention_heads', 'joint_attention_dim', 'pooled_projection_dim'] as const) {
    if (!Number.isInteger(c[field]) || (c[field] as number) < (field.startsWith('num_') && field !== 'num_attention_heads' ? 0 : 1)) {
      bad(field, `must be a positive integer (got ${JSON.stringify(c[field])})`);
    }
  }
  if (c.in_channels !== 64) bad('in_channels', `must be 64 (16 latent channels × 2×2 patches; got ${c.in_channels})`);
  if ((c.patch_size ?? 1) !== 1) bad('patch_size', `must be 1 (got ${c.patch_size})`);
  if (c.out_channels != null && c.out_channels !== c.in_channels) bad('out_channels', `must be null or equal to in_channels (got ${c.out_channels})`);
  if (c.guidance_embeds !== undefined && typeof c.guidance_embeds !== 'boolean') bad('guidance_embeds', `must be true or false (got ${JSON.stringify(c.guidance_embeds)})`);
  const axes = c.axes_dims_rope;
  if (!Array.isArray(axes) || axes.length !== 3 || axes.some((a) => !Number.isInteger(a) || a % 2 !== 0)) {
    bad('axes_dims_rope', `must be three even integers (got ${JSON.stringify(axes)})`);
  }
  if (axes!.reduce((a, b) => a + b, 0) !== c.attention_head_dim) {
    bad('axes_dims_rope', `must add up to attention_head_dim ${c.attention_head_dim} (got ${axes!.join('+')})`);
  }
  return { ...c, guidance_embeds: c.guidance_embeds === true, patch_size: 1, out_channels: c.out_channels ?? null } as TransformerConfig;
}

type Shapes = Map<string, number[]>;

function addLinear(shapes: Shapes, prefix: string, inF: number, outF: number): void {
  shapes.set(`${prefix}.weight`, [outF, inF]);
  shapes.set(`${prefix}.bias`, [outF]);
}

/** Every tensor of the embedders with its shape. */
function embedTensors(c: TransformerConfig): Shapes {
  const d = innerDim(c);
  const s: Shapes = new Map();
  addLinear(s, 'x_embedder', c.in_channels, d);
  addLinear(s, 'context_embedder', c.joint_attention_dim, d);
  addLinear(s, 'time_text_embed.timestep_embedder.linear_1', 256, d);
  addLinear(s, 'time_text_embed.timestep_embedder.linear_2', d, d);
  if (c.guidance_embeds) {
    // Guidance-distilled models (FLUX.1 [dev]): the guidance scale's embedder.
    addLinear(s, 'time_text_embed.guidance_embedder.linear_1', 256, d);
    addLinear(s, 'time_text_embed.guidance_embedder.linear_2', d, d);
  }
  addLinear(s, 'time_text_embed.text_embedder.linear_1', c.pooled_projection_dim, d);
  addLinear(s, 'time_text_embed.text_embedder.linear_2', d, d);
  return s;
}

/** Every tensor of double block `i` with its shape. */
function doubleBlockTensors(c: TransformerConfig, i: number): Shapes {
  const d = innerDim(c);
  const p = `transformer_blocks.${i}`;
  const s: Shapes = new Map();
  addLinear(s, `${p}.norm1.linear`, d, 6 * d);
  addLinear(s, `${p}.norm1_context.linear`, d, 6 * d);
  for (const name of ['to_q', 'to_k', 'to_v', 'add_q_proj', 'add_k_proj', 'add_v_proj', 'to_out.0', 'to_add_out']) addLinear(s, `${p}.attn.${name}`, d, d);
  for (const name of ['norm_q', 'norm_k', 'norm_added_q', 'norm_added_k']) s.set(`${p}.attn.${name}.weight`, [c.attention_head_dim]);
  for (const ff of ['ff', 'ff_context']) {
    addLinear(s, `${p}.${ff}.net.0.proj`, d, 4 * d);
    addLinear(s, `${p}.${ff}.net.2`, 4 * d, d);
  }
  return s;
}

/** Every tensor of single block `i` with its shape. */
function singleBlockTensors(c: TransformerConfig, i: number): Shapes {
  const d = innerDim(c);
  const p = `single_transformer_blocks.${i}`;
  const s: Shapes = new Map();
  addLinear(s, `${p}.norm.linear`, d, 3 * d);
  addLinear(s, `${p}.proj_mlp`, d, 4 * d);
  addLinear(s, `${p}.proj_out`, 5 * d, d);
  for (const name of ['to_q', 'to_k', 'to_v']) addLinear(s, `${p}.attn.${name}`, d, d);
  for (const name of ['norm_q', 'norm_k']) s.set(`${p}.attn.${name}.weight`, [c.attention_head_dim]);
  return s;
}

/** Every tensor of the output head with its shape. */
function headTensors(c: TransformerConfig): Shapes {
  const d = innerDim(c);
  const s: Shapes = new Map();
  addLinear(s, 'norm_out.linear', d, 2 * d);
  addLinear(s, 'proj_out', d, c.in_channels);
  return s;
}

/** Every tensor the transformer checkpoint must contain, with its shape. */
export function expectedTransformerTensors(c: TransformerConfig): Shapes {
  const all: Shapes = new Map([...embedTensors(c), ...headTensors(c)]);
  for (let i = 0; i < c.num_layers; i++) for (const [k, v] of doubleBlockTensors(c, i)) all.set(k, v);
  for (let i = 0; i < c.num_single_layers; i++) for (const [k, v] of singleBlockTensors(c, i)) all.set(k, v);
  return all;
}

/** One planned block shard: half-open ranges of double and single blocks. */
export interface ShardPlan {
  double: [number, number];
  single: [number, number];
  estimatedBytes: number;
}

/**
 * Groups blocks into shards whose data files stay under `maxShardBytes` (`packShards`).
 * Double and single blocks never share a shard (they run in that order).
 * @param blockBytes stored bytes of a block's tensors (default: `blockStoredBytes` at `precision`)
 * @throws CheckpointError when a single block alone exceeds the limit.
 */
export function planBlockShards(
  c: TransformerConfig,
  precision: WeightPrecision,
  maxShardBytes: number,
  blockBytes: (tensors: Shapes) => number = (tensors) => blockStoredBytes(tensors, precision),
): ShardPlan[] {
  const group = (kind: 'double' | 'single', count: number, tensors: (i: number) => Shapes): ShardPlan[] => {
    const sizes = Array.from({ length: count }, (_, i) => blockBytes(tensors(i)));
    return packShards(sizes, maxShardBytes, (i) => `${kind} block ${i}`, precision).map(({ start, end, bytes }) => ({
      double: kind === 'double' ? [start, end] : [0, 0],
      single: kind === 'single' ? [start, end] : [0, 0],
      estimatedBytes: bytes,
    }));
  };
  return [...group('double', c.num_layers, (i) => doubleBlockTensors(c, i)), ...group('single', c.num_single_layers, (i) => singleBlockTensors(c, i))];
}

/** Graph inputs shared by the block shards. */
function blockInputs(ctx: LayerContext, c: TransformerConfig) {
  const d = innerDim(c);
  const half = c.attention_head_dim / 2;
  return {
    img: ctx.g.input('img', 'float32', [1, 'img_tokens', d]),
    txt: ctx.g.input('txt', 'float32', [1, 'txt_tokens', d]),
    temb: ctx.g.input('temb', 'float32', [1, d]),
    cos: ctx.g.input('rope_cos', 'float32', ['tokens', half]),
    sin: ctx.g.input('rope_sin', 'float32', ['tokens', half]),
  };
}

/** Sinusoidal timestep features as diffusers computes them (256 channels, cos first), float32. */
export function timestepFrequencies(channels = 256, maxPeriod = 10000): Float32Array {
  const half = channels / 2;
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const exponent = Math.fround(Math.fround(-Math.log(maxPeriod) * i) / half);
    freqs[i] = Math.exp(exponent);
  }
  return freqs;
}

/** Builds the embedder shard. */
export async function buildEmbed(ctx: LayerContext, c: TransformerConfig): Promise<void> {
  const { g } = ctx;
  const d = innerDim(c);
  const hidden = g.input('hidden_states', 'float32', [1, 'img_tokens', c.in_channels]);
  const context = g.input('encoder_hidden_states', 'float32', [1, 'txt_tokens', c.joint_attention_dim]);
  const pooled = g.input('pooled_projections', 'float32', [1, c.pooled_projection_dim]);
  const timestep = g.input('timestep', 'float32', [1]);
  const guidance = c.guidance_embeds ? g.input('guidance', 'float32', [1]) : undefined;

  const img = await linear(ctx, hidden, 'x_embedder', c.in_channels, d);
  const txt = await linear(ctx, context, 'context_embedder', c.joint_attention_dim, d);

  // value·1000 (the pipeline passes sigma = t/1000, and the guidance scale), sinusoidal features, cos first.
  const frequencies = g.constFloat(timestepFrequencies(), [1, 128]);
  const sinusoid = (value: string) => {
    const scaled = g.op('Mul', [value, g.constFloat([1000], [])]);
    const args = g.op('Mul', [g.op('Unsqueeze', [scaled, g.constInt64([1])]), frequencies]);
    return g.op('Concat', [g.op('Cos', [args]), g.op('Sin', [args])], { axis: -1 });
  };
  const embedder = async (value: string, prefix: string) => linear(ctx, silu(g, await linear(ctx, sinusoid(value), `${prefix}.linear_1`, 256, d)), `${prefix}.linear_2`, d, d);
  let timeEmb = await embedder(timestep, 'time_text_embed.timestep_embedder');
  // diffusers' CombinedTimestepGuidanceTextProjEmbeddings: (time + guidance) + text.
  if (guidance) timeEmb = g.op('Add', [timeEmb, await embedder(guidance, 'time_text_embed.guidance_embedder')]);
  const pp = 'time_text_embed.text_embedder';
  const textEmb = await linear(ctx, silu(g, await linear(ctx, pooled, `${pp}.linear_1`, c.pooled_projection_dim, d)), `${pp}.linear_2`, d, d);

  g.output(img, 'img', 'float32', [1, 'img_tokens', d]);
  g.output(txt, 'txt', 'float32', [1, 'txt_tokens', d]);
  g.output(g.op('Add', [timeEmb, textEmb]), 'temb', 'float32', [1, d]);
}

/** Per-head RMSNorm of q or k [1,S,H·Dh] with the checkpoint's scale `${name}.weight`. */
async function headNorm(ctx: LayerContext, c: TransformerConfig, x: string, name: string): Promise<string> {
  const { g } = ctx;
  const heads = g.op('Reshape', [x, g.constInt64([0, 0, c.num_attention_heads, c.attention_head_dim])]);
  const normed = rmsNorm(g, heads, await param(ctx, `${name}.weight`, [c.attention_head_dim]), NORM_EPS);
  return g.op('Reshape', [normed, g.constInt64([0, 0, innerDim(c)])]);
}

/** Interleaved rotary embedding of [1,S,H·Dh] with per-position cos/sin tables [S, Dh/2]. */
function rope(ctx: LayerContext, c: TransformerConfig, x: string, positions: string, cos: string, sin: string): string {
  return ctx.g.op('RotaryEmbedding', [x, positions, cos, sin], { interleaved: 1, num_heads: c.num_attention_heads }, MS);
}

/** Position ids 0..S−1 as [1,S] int64, S taken from the cos table. */
function positionIds(ctx: LayerContext, cos: string): string {
  const { g } = ctx;
  const count = g.op('Gather', [g.op('Shape', [cos]), g.constInt64([0], [])], { axis: 0 });
  return g.op('Unsqueeze', [g.op('Range', [g.constInt64([0], []), count, g.constInt64([1], [])]), g.constInt64([0])]);
}

/** q, k, v projections with per-head norms for the prefix (to_* / add_*_proj). */
async function qkv(ctx: LayerContext, c: TransformerConfig, x: string, p: string, names: [string, string, string], norms: [string, string]) {
  const d = innerDim(c);
  const q = await headNorm(ctx, c, await linear(ctx, x, `${p}.${names[0]}`, d, d), `${p}.${norms[0]}`);
  const k = await headNorm(ctx, c, await linear(ctx, x, `${p}.${names[1]}`, d, d), `${p}.${norms[1]}`);
  const v = await linear(ctx, x, `${p}.${names[2]}`, d, d);
  return { q, k, v };
}

/** Text tokens the attention chunking plans for: FLUX.1 [dev]'s max_sequence_length (schnell uses 256). */
const MAX_TEXT_TOKENS = 512;

/**
 * Heads per attention group in the block shards: the joint sequence of the largest web
 * image (LIMITS.webSize.max², 16 pixels per token) plus 512 text tokens keeps one group's
 * float32 scores within `DEFAULTS.attentionScoresMaxBytes` (FLUX: 3 of 24 heads, 0.83 GiB
 * at 1440²; all 24 at once would need 6.7 GiB).
 */
export function defaultAttentionHeadsPerGroup(c: TransformerConfig): number {
  const maxTokens = (LIMITS.webSize.max / 16) ** 2 + MAX_TEXT_TOKENS;
  return attentionHeadsPerGroup(c.num_attention_heads, maxTokens, DEFAULTS.attentionScoresMaxBytes);
}

/** Options of `buildBlocks`. */
export interface BlockOptions {
  /** Heads per attention group (default `defaultAttentionHeadsPerGroup`); ≥ num_attention_heads: one attention node. */
  attentionHeadsPerGroup?: number;
}

/** Joint attention over [txt; img] with RoPE, returning the attention output of the joint sequence. */
function jointAttention(ctx: LayerContext, c: TransformerConfig, q: string, k: string, v: string, rot: { positions: string; cos: string; sin: string }, headsPerGroup: number): string {
  const qr = rope(ctx, c, q, rot.positions, rot.cos, rot.sin);
  const kr = rope(ctx, c, k, rot.positions, rot.cos, rot.sin);
  return multiHeadAttention(ctx, qr, kr, v, c.num_attention_heads, c.attention_head_dim, undefined, headsPerGroup);
}

/** Feed-forward: Linear(d→4d), GELU(tanh), Linear(4d→d). */
async function feedForward(ctx: LayerContext, c: TransformerConfig, x: string, p: string): Promise<string> {
  const d = innerDim(c);
  return linear(ctx, geluTanh(ctx.g, await linear(ctx, x, `${p}.net.0.proj`, d, 4 * d)), `${p}.net.2`, 4 * d, d);
}

/** What a block shard's blocks share: the block inputs' SiLU(temb), RoPE tables and the txt/img split. */
interface BlockContext {
  tembAct: string;
  rot: { positions: string; cos: string; sin: string };
  /** Splits a joint [1, T+I, D] sequence back into txt [1, T, D] and img [1, I, D]. */
  splitTokens(x: string): string[];
  /** Heads per attention group (see `BlockOptions`). */
  headsPerGroup: number;
}

/**
 * One double-stream block (diffusers `FluxTransformerBlock`): AdaLN-Zero modulation of
 * both streams, joint attention over [txt; img], gated residual feed-forwards. Its nodes
 * are named `double.<i>.…`.
 */
export async function doubleBlock(ctx: LayerContext, c: TransformerConfig, i: number, b: BlockContext, img: string, txt: string): Promise<{ img: string; txt: string }> {
  const { g } = ctx;
  const d = innerDim(c);
  const p = `transformer_blocks.${i}`;
  return g.scoped(`double.${i}`, p, async () => {
    const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = chunkLastAxis(g, await linear(ctx, b.tembAct, `${p}.norm1.linear`, d, 6 * d), 6, d);
    const [cShiftMsa, cScaleMsa, cGateMsa, cShiftMlp, cScaleMlp, cGateMlp] = chunkLastAxis(g, await linear(ctx, b.tembAct, `${p}.norm1_context.linear`, d, 6 * d), 6, d);
    const imgIn = modulate(g, layerNormPlain(g, img, d, NORM_EPS), shiftMsa, scaleMsa);
    const txtIn = modulate(g, layerNormPlain(g, txt, d, NORM_EPS), cShiftMsa, cScaleMsa);
    const a = await qkv(ctx, c, imgIn, `${p}.attn`, ['to_q', 'to_k', 'to_v'], ['norm_q', 'norm_k']);
    const t = await qkv(ctx, c, txtIn, `${p}.attn`, ['add_q_proj', 'add_k_proj', 'add_v_proj'], ['norm_added_q', 'norm_added_k']);
    const cat = (x: string, y: string) => g.op('Concat', [x, y], { axis: 1 });
    const attention = jointAttention(ctx, c, cat(t.q, a.q), cat(t.k, a.k), cat(t.v, a.v), b.rot, b.headsPerGroup);
    const [txtAttn, imgAttn] = b.splitTokens(attention);

    img = g.op('Add', [img, gated(g, gateMsa, await linear(ctx, imgAttn, `${p}.attn.to_out.0`, d, d))]);
    const imgFf = await feedForward(ctx, c, modulate(g, layerNormPlain(g, img, d, NORM_EPS), shiftMlp, scaleMlp), `${p}.ff`);
    img = g.op('Add', [img, gated(g, gateMlp, imgFf)]);

    txt = g.op('Add', [txt, gated(g, cGateMsa, await linear(ctx, txtAttn, `${p}.attn.to_add_out`, d, d))]);
    const txtFf = await feedForward(ctx, c, modulate(g, layerNormPlain(g, txt, d, NORM_EPS), cShiftMlp, cScaleMlp), `${p}.ff_context`);
    txt = g.op('Add', [txt, gated(g, cGateMlp, txtFf)]);
    return { img, txt };
  });
}

/**
 * One single-stream block (diffusers `FluxSingleTransformerBlock`) on the joint
 * sequence x = [txt; img]: attention and MLP in parallel from one modulated input,
 * joined by `proj_out`, gated residual. Its nodes are named `single.<i>.…`.
 */
export async function singleBlock(ctx: LayerContext, c: TransformerConfig, i: number, b: BlockContext, x: string): Promise<string> {
  const { g } = ctx;
  const d = innerDim(c);
  const p = `single_transformer_blocks.${i}`;
  return g.scoped(`single.${i}`, p, async () => {
    const [shift, scale, gate] = chunkLastAxis(g, await linear(ctx, b.tembAct, `${p}.norm.linear`, d, 3 * d), 3, d);
    const normed = modulate(g, layerNormPlain(g, x, d, NORM_EPS), shift, scale);
    const mlp = geluTanh(g, await linear(ctx, normed, `${p}.proj_mlp`, d, 4 * d));
    const a = await qkv(ctx, c, normed, `${p}.attn`, ['to_q', 'to_k', 'to_v'], ['norm_q', 'norm_k']);
    const attention = jointAttention(ctx, c, a.q, a.k, a.v, b.rot, b.headsPerGroup);
    const joined = g.op('Concat', [attention, mlp], { axis: -1 });
    return g.op('Add', [x, gated(g, gate, await linear(ctx, joined, `${p}.proj_out`, 5 * d, d))]);
  });
}

/** Builds one shard of double and/or single blocks. */
export async function buildBlocks(ctx: LayerContext, c: TransformerConfig, plan: ShardPlan, options: BlockOptions = {}): Promise<void> {
  const { g } = ctx;
  const d = innerDim(c);
  const inputs = blockInputs(ctx, c);
  const tembAct = silu(g, inputs.temb);
  const rot = { positions: positionIds(ctx, inputs.cos), cos: inputs.cos, sin: inputs.sin };
  const tokenCounts = g.op('Concat', [
    g.op('Slice', [g.op('Shape', [inputs.txt]), g.constInt64([1]), g.constInt64([2])]),
    g.op('Slice', [g.op('Shape', [inputs.img]), g.constInt64([1]), g.constInt64([2])]),
  ], { axis: 0 });
  const shared: BlockContext = {
    tembAct,
    rot,
    splitTokens: (x) => g.opN('Split', [x, tokenCounts], 2, { axis: 1 }),
    headsPerGroup: options.attentionHeadsPerGroup ?? defaultAttentionHeadsPerGroup(c),
  };

  let img = inputs.img;
  let txt = inputs.txt;
  for (let i = plan.double[0]; i < plan.double[1]; i++) ({ img, txt } = await doubleBlock(ctx, c, i, shared, img, txt));
  if (plan.single[1] > plan.single[0]) {
    let x = g.op('Concat', [txt, img], { axis: 1 });
    for (let i = plan.single[0]; i < plan.single[1]; i++) x = await singleBlock(ctx, c, i, shared, x);
    [txt, img] = shared.splitTokens(x);
  }
  g.output(img, 'img_out', 'float32', [1, 'img_tokens', d]);
  g.output(txt, 'txt_out', 'float32', [1, 'txt_tokens', d]);
}

/** Builds the output head: AdaLayerNormContinuous (scale, then shift) and proj_out. */
export async function buildHead(ctx: LayerContext, c: TransformerConfig): Promise<void> {
  const { g } = ctx;
  const d = innerDim(c);
  const img = g.input('img', 'float32', [1, 'img_tokens', d]);
  const temb = g.input('temb', 'float32', [1, d]);
  const [scale, shift] = chunkLastAxis(g, await linear(ctx, silu(g, temb), 'norm_out.linear', d, 2 * d), 2, d);
  const normed = modulate(g, layerNormPlain(g, img, d, NORM_EPS), shift, scale);
  g.output(await linear(ctx, normed, 'proj_out', d, c.in_channels), 'noise_pred', 'float32', [1, 'img_tokens', c.in_channels]);
}
