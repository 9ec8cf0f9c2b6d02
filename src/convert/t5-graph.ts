/**
 * The T5 v1.1 encoder of FLUX (`text_encoder_2/`, transformers `T5EncoderModel`, T5-XXL:
 * 4.7B parameters) as a chain of ONNX shards with one interface:
 *
 *   embed:  input_ids int64 [1, S]                    → hidden [1, S, D], position_bias [1, H, S, S]
 *   blocks: hidden [1, S, D], position_bias [1, H, S, S] → hidden_out [1, S, D]
 *           (the last block shard also applies encoder.final_layer_norm and names its
 *           output `last_hidden_state` instead of `hidden_out`)
 *
 * S is fixed per graph (FLUX.1 [schnell]: 256). No attention mask: padding tokens take
 * part, as in the FLUX pipelines. Per block (transformers T5Block, encoder):
 *   h += o(MHA(q, k, v of RMSNorm(h)) with scores q·kᵀ (no 1/√d) + position_bias)
 *   h += wo(gelu_tanh(wi_0 n) · wi_1 n),  n = RMSNorm(h)
 * The relative-position buckets are computed here at conversion time for the fixed S
 * (`t5RelativePositionBuckets`, T5's bidirectional bucketing with its float32 log and
 * truncation) and stored as an int64 constant; the embed shard gathers the bias from
 * block 0's `relative_attention_bias` table (shared by every block).
 *
 * Activations are float32 (T5 v1.1 overflows float16 activations); only stored weights
 * follow the precision. The embedding table is float32 at fp32 and float16 otherwise,
 * gathered before the Cast.
 */
import { CheckpointError } from '../errors.ts';
import type { WeightPrecision } from '../package/manifest.ts';
import { embeddingLookup } from './clip-graph.ts';
import { geluTanh, linear, param, rmsNorm, type LayerContext } from './layers.ts';
import { blockStoredBytes, packShards } from './storage.ts';

const MS = 'com.microsoft';

/** The transformers `T5Config` fields the encoder graphs use. */
export interface T5Config {
  vocab_size: number;
  d_model: number;
  d_kv: number;
  num_heads: number;
  d_ff: number;
  num_layers: number;
  relative_attention_num_buckets: number;
  relative_attention_max_distance: number;
  layer_norm_epsilon: number;
  /** Only T5 v1.1's gated GELU (tanh approximation, "gelu_new") is supported. */
  feed_forward_proj: 'gated-gelu';
}

/** The tied embedding: `shared.weight` (preferred) or its alias `encoder.embed_tokens.weight`. */
export const T5_SHARED_EMBEDDING = 'shared.weight';
export const T5_ENCODER_EMBEDDING = 'encoder.embed_tokens.weight';
const RELATIVE_BIAS = 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight';

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/**
 * Checks a T5 encoder `config.json` against what this converter supports.
 * @throws CheckpointError naming the file and the field (the field is also `error.tensor`).
 */
export function validateT5Config(raw: unknown, file: string): T5Config {
  const bad = (field: string, why: string): never => {
    throw new CheckpointError(`${file}: "${field}" ${why}`, file, field);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) bad('(root)', 'is not a JSON object');
  const c = raw as Record<string, unknown>;
  if (c.model_type !== 't5') bad('model_type', `must be "t5" (got ${show(c.model_type)})`);
  if (c.architectures !== undefined) {
    // A full encoder-decoder checkpoint would also hold decoder.* and lm_head tensors.
    if (!Array.isArray(c.architectures) || !c.architectures.includes('T5EncoderModel')) bad('architectures', `must contain "T5EncoderModel" (got ${show(c.architectures)})`);
  }
  const positiveInt = (field: string, fallback?: number): number => {
    const v = c[field] ?? fallback;
    if (!Number.isInteger(v) || (v as number) < 1) bad(field, `must be a positive integer (got ${show(v)})`);
    return v as number;
  };
  const vocab = positiveInt('vocab_size');
  const dModel = positiveInt('d_model');
  const dKv = positiveInt('d_kv');
  const heads = positiveInt('num_heads');
  const dFf = positiveInt('d_ff');
  const layers = positiveInt('num_layers');
  const buckets = positiveInt('relative_attention_num_buckets', 32);
  // Bidirectional bucketing: half the buckets per direction, half of those exact.
  if (buckets % 4 !== 0) bad('relative_attention_num_buckets', `must be a multiple of 4 (got ${buckets})`);
  const maxDistance = positiveInt('relative_attention_max_distance', 128);
  if (maxDistance <= buckets / 4) bad('relative_attention_max_distance', `must exceed relative_attention_num_buckets / 4 = ${buckets / 4} (got ${maxDistance})`);
  const eps = c.layer_norm_epsilon ?? 1e-6;
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) bad('layer_norm_epsilon', `must be a positive number (got ${show(eps)})`);
  if (c.feed_forward_proj !== 'gated-gelu') {
    bad('feed_forward_proj', `must be "gated-gelu" (T5 v1.1; got ${show(c.feed_forward_proj)})`);
  }
  // transformers maps "gated-gelu" to dense_act_fn "gelu_new" (the tanh approximation).
  if (c.dense_act_fn !== undefined && c.dense_act_fn !== 'gelu_new') bad('dense_act_fn', `must be "gelu_new" (got ${show(c.dense_act_fn)})`);
  if (c.is_gated_act !== undefined && c.is_gated_act !== true) bad('is_gated_act', `must be true (got ${show(c.is_gated_act)})`);
  return {
    vocab_size: vocab,
    d_model: dModel,
    d_kv: dKv,
    num_heads: heads,
    d_ff: dFf,
    num_layers: layers,
    relative_attention_num_buckets: buckets,
    relative_attention_max_distance: maxDistance,
    layer_norm_epsilon: eps as number,
    feed_forward_proj: 'gated-gelu',
  };
}

type Shapes = Map<string, number[]>;

/** inner attention dimension = heads × d_kv. */
function innerDim(c: T5Config): number {
  return c.num_heads * c.d_kv;
}

/** The embed shard's tensors (the embedding under `embeddingName`). */
function embedTensors(c: T5Config, embeddingName: string): Shapes {
  return new Map([
    [embeddingName, [c.vocab_size, c.d_model]],
    [RELATIVE_BIAS, [c.relative_attention_num_buckets, c.num_heads]],
  ]);
}

/** Every tensor of block `i` that a block shard reads (the relative bias is read by the embed shard). */
function blockTensors(c: T5Config, i: number): Shapes {
  const d = c.d_model;
  const inner = innerDim(c);
  const p = `encoder.block.${i}.layer`;
  const s: Shapes = new Map();
  s.set(`${p}.0.layer_norm.weight`, [d]);
  for (const name of ['q', 'k', 'v']) s.set(`${p}.0.SelfAttention.${name}.weight`, [inner, d]);
  s.set(`${p}.0.SelfAttention.o.weight`, [d, inner]);
  s.set(`${p}.1.layer_norm.weight`, [d]);
  s.set(`${p}.1.DenseReluDense.wi_0.weight`, [c.d_ff, d]);
  s.set(`${p}.1.DenseReluDense.wi_1.weight`, [c.d_ff, d]);
  s.set(`${p}.1.DenseReluDense.wo.weight`, [d, c.d_ff]);
  return s;
}

/**
 * Every tensor the encoder reads, with its shape. The tied embedding appears once, as
 * `embeddingName` (default `shared.weight`); pick it with `t5EmbeddingName` from the
 * tensors present, and ignore the other alias with `isIgnoredT5Tensor`.
 */
export function expectedT5Tensors(c: T5Config, embeddingName: string = T5_SHARED_EMBEDDING): Shapes {
  const all: Shapes = new Map(embedTensors(c, embeddingName));
  for (let i = 0; i < c.num_layers; i++) for (const [k, v] of blockTensors(c, i)) all.set(k, v);
  all.set('encoder.final_layer_norm.weight', [c.d_model]);
  return all;
}

/**
 * Which name of the tied embedding to read: `shared.weight` when present, else
 * `encoder.embed_tokens.weight`.
 * @throws CheckpointError naming `file` when neither is present.
 */
export function t5EmbeddingName(present: Iterable<string>, file: string): string {
  const names = new Set(present);
  if (names.has(T5_SHARED_EMBEDDING)) return T5_SHARED_EMBEDDING;
  if (names.has(T5_ENCODER_EMBEDDING)) return T5_ENCODER_EMBEDDING;
  throw new CheckpointError(`${file}: tensor ${T5_SHARED_EMBEDDING} (or its tied alias ${T5_ENCODER_EMBEDDING}) is missing`, file, T5_SHARED_EMBEDDING);
}

/**
 * Tensors a T5 encoder checkpoint may hold that are not read: either name of the tied
 * embedding (the one chosen by `t5EmbeddingName` is in `expectedT5Tensors`, so only the
 * unused alias reaches this check).
 */
export function isIgnoredT5Tensor(name: string): boolean {
  return name === T5_SHARED_EMBEDDING || name === T5_ENCODER_EMBEDDING;
}

/**
 * Bytes of the embed shard at `precision`: the embedding table (float32 at fp32, float16
 * otherwise), the relative-bias table (float32) and the bucket constant (int64 S×S).
 */
export function estimateT5EmbedBytes(c: T5Config, precision: WeightPrecision, seqLen: number): number {
  const table = c.vocab_size * c.d_model * (precision === 'fp32' ? 4 : 2);
  return table + c.relative_attention_num_buckets * c.num_heads * 4 + seqLen * seqLen * 8;
}

/** One planned block shard: a half-open range of blocks; `final` adds the final norm. */
export interface T5ShardPlan {
  blocks: [number, number];
  /** Whether this (the last) shard applies `encoder.final_layer_norm` → `last_hidden_state`. */
  final: boolean;
  estimatedBytes: number;
}

/**
 * Groups the encoder blocks into shards whose data stays under `maxShardBytes`
 * (`packShards`; the embed shard is separate: see `estimateT5EmbedBytes`). The last
 * shard carries the final norm.
 * @param blockBytes stored bytes of a block's tensors (default: `blockStoredBytes` at `precision`)
 * @throws CheckpointError when one block alone exceeds the limit.
 */
export function planT5Shards(
  c: T5Config,
  precision: WeightPrecision,
  maxShardBytes: number,
  blockBytes: (tensors: Shapes) => number = (tensors) => blockStoredBytes(tensors, precision),
): T5ShardPlan[] {
  const finalBytes = c.d_model * 4;
  const sizes = Array.from({ length: c.num_layers }, (_, i) => blockBytes(blockTensors(c, i)) + (i === c.num_layers - 1 ? finalBytes : 0));
  const shards = packShards(sizes, maxShardBytes, (i) => `T5 encoder block ${i}`, precision);
  return shards.map(({ start, end, bytes }, index) => ({ blocks: [start, end], final: index === shards.length - 1, estimatedBytes: bytes }));
}

/**
 * transformers `T5Attention._relative_position_bucket(relative_position, bidirectional=True)`
 * for one relative position (key − query), with its float32 arithmetic: the log branch is
 * `max_exact + trunc(float32(log(float32(n / max_exact)) / log(max_distance / max_exact) · (half − max_exact)))`.
 */
export function t5RelativePositionBucket(relative: number, numBuckets: number, maxDistance: number): number {
  const half = numBuckets / 2; // num_buckets //= 2 (bidirectional)
  const offset = relative > 0 ? half : 0;
  const n = Math.abs(relative);
  const maxExact = half / 2;
  if (n < maxExact) return offset + n;
  const f = Math.fround;
  const logRatio = f(Math.log(f(n / maxExact)));
  const scaled = f(f(logRatio / f(Math.log(maxDistance / maxExact))) * (half - maxExact));
  return offset + Math.min(maxExact + Math.trunc(scaled), half - 1);
}

/** The bucket of every (query i, key j) pair, row-major [S, S], for relative position j − i. */
export function t5RelativePositionBuckets(seqLen: number, numBuckets: number, maxDistance: number): BigInt64Array {
  const out = new BigInt64Array(seqLen * seqLen);
  const byDistance = new Map<number, bigint>();
  for (let i = 0; i < seqLen; i++) {
    for (let j = 0; j < seqLen; j++) {
      const r = j - i;
      let b = byDistance.get(r);
      if (b === undefined) byDistance.set(r, (b = BigInt(t5RelativePositionBucket(r, numBuckets, maxDistance))));
      out[i * seqLen + j] = b;
    }
  }
  return out;
}

/**
 * Builds the embed shard: input `input_ids` int64 [1, S] → `hidden` float32 [1, S, D]
 * (embedding rows; T5 does not scale them) and `position_bias` float32 [1, H, S, S].
 * @param options.embeddingName which alias of the tied embedding to read (see `t5EmbeddingName`)
 */
export async function buildT5Embed(ctx: LayerContext, c: T5Config, seqLen: number, options: { embeddingName?: string } = {}): Promise<void> {
  const { g } = ctx;
  const ids = g.input('input_ids', 'int64', [1, seqLen]);
  const hidden = await embeddingLookup(ctx, options.embeddingName ?? T5_SHARED_EMBEDDING, c.vocab_size, c.d_model, ids);

  // Stored transposed ([H, buckets]) so one Gather on axis 1 gives [H, S, S] directly.
  const nb = c.relative_attention_num_buckets;
  const h = c.num_heads;
  const table = await ctx.weights.read(RELATIVE_BIAS, [nb, h]);
  const transposed = new Float32Array(nb * h);
  for (let b = 0; b < nb; b++) for (let k = 0; k < h; k++) transposed[k * nb + b] = table[b * h + k];
  const bias = g.initializer(`${RELATIVE_BIAS}_t`, 'float32', [h, nb], transposed);
  const buckets = g.initializer('relative_position_buckets', 'int64', [seqLen, seqLen], t5RelativePositionBuckets(seqLen, nb, c.relative_attention_max_distance));
  const positionBias = g.op('Unsqueeze', [g.op('Gather', [bias, buckets], { axis: 1 }), g.constInt64([0])]);

  g.output(hidden, 'hidden', 'float32', [1, seqLen, c.d_model]);
  g.output(positionBias, 'position_bias', 'float32', [1, h, seqLen, seqLen]);
}

/** One encoder block (transformers `T5Block`): self-attention with the shared position bias, then the gated-GELU feed-forward. */
async function t5Block(ctx: LayerContext, c: T5Config, i: number, h: string, positionBias: string): Promise<string> {
  const { g } = ctx;
  const d = c.d_model;
  const inner = innerDim(c);
  const eps = c.layer_norm_epsilon;
  const p = `encoder.block.${i}.layer`;
  const n = rmsNorm(g, h, await param(ctx, `${p}.0.layer_norm.weight`, [d]), eps);
  const q = await linear(ctx, n, `${p}.0.SelfAttention.q`, d, inner, { bias: false });
  const k = await linear(ctx, n, `${p}.0.SelfAttention.k`, d, inner, { bias: false });
  const v = await linear(ctx, n, `${p}.0.SelfAttention.v`, d, inner, { bias: false });
  // T5 does not scale q·kᵀ: scale 1. Inputs: query, key, value, bias, key_padding_mask, attention_bias.
  const attended = g.op('MultiHeadAttention', [q, k, v, '', '', positionBias], { num_heads: c.num_heads, scale: { float: 1 } }, MS);
  h = g.op('Add', [h, await linear(ctx, attended, `${p}.0.SelfAttention.o`, inner, d, { bias: false })]);

  const m = rmsNorm(g, h, await param(ctx, `${p}.1.layer_norm.weight`, [d]), eps);
  const gate = geluTanh(g, await linear(ctx, m, `${p}.1.DenseReluDense.wi_0`, d, c.d_ff, { bias: false }));
  const up = await linear(ctx, m, `${p}.1.DenseReluDense.wi_1`, d, c.d_ff, { bias: false });
  h = g.op('Add', [h, await linear(ctx, g.op('Mul', [gate, up]), `${p}.1.DenseReluDense.wo`, c.d_ff, d, { bias: false })]);
  return h;
}

/**
 * Builds one shard of encoder blocks: inputs `hidden` [1, S, D] and `position_bias`
 * [1, H, S, S]; output `hidden_out` [1, S, D], or `last_hidden_state` [1, S, D] (after
 * `encoder.final_layer_norm`) when `plan.final`.
 */
export async function buildT5Blocks(ctx: LayerContext, c: T5Config, plan: T5ShardPlan, seqLen: number): Promise<void> {
  const { g } = ctx;
  const d = c.d_model;
  const eps = c.layer_norm_epsilon;
  let h = g.input('hidden', 'float32', [1, seqLen, d]);
  const positionBias = g.input('position_bias', 'float32', [1, c.num_heads, seqLen, seqLen]);

  for (let i = plan.blocks[0]; i < plan.blocks[1]; i++) {
    h = await g.scoped(`block.${i}`, `encoder.block.${i}`, () => t5Block(ctx, c, i, h, positionBias));
  }
  if (plan.final) {
    const out = rmsNorm(g, h, await param(ctx, 'encoder.final_layer_norm.weight', [d]), eps);
    g.output(out, 'last_hidden_state', 'float32', [1, seqLen, d]);
  } else {
    g.output(h, 'hidden_out', 'float32', [1, seqLen, d]);
  }
}
