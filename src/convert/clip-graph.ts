/**
 * The CLIP-L text encoder of FLUX (`text_encoder/`, transformers `CLIPTextModel`) as one
 * ONNX graph:
 *
 *   input_ids int64 [1, S]  →  pooled float32 [1, D], last_hidden_state float32 [1, S, D]
 *
 * S is fixed to `max_position_embeddings` (77: the tokenizer pads/truncates to it).
 * transformers `CLIPTextTransformer`: token + position embeddings → pre-LN encoder layers
 * with causal self-attention → final LayerNorm. `pooled` is the final hidden state at the
 * pooling position, chosen exactly as transformers does:
 *   - `eos_token_id == 2` (legacy configs, FLUX's included): argmax(input_ids), the first
 *     maximum (with CLIP's vocabulary that is the first `<|endoftext|>` 49407);
 *   - otherwise: the first position where input_ids == eos_token_id (0 when there is none,
 *     torch's argmax of an all-zero mask).
 *
 * Activations are float32. The token embedding table is stored like `floatWeight` stores
 * tensors (float32 at fp32, float16 otherwise) but is gathered before the Cast, so only
 * the S rows in use are widened to float32; linears go through `linear` (MatMulNBits at
 * q4/q8), biases and norm parameters stay float32.
 */
import { CheckpointError } from '../errors.ts';
import { float32ToFloat16Bytes } from '../formats/float16.ts';
import { linear, param, type LayerContext } from './layers.ts';

const MS = 'com.microsoft';
/** Added to masked (future) attention scores; exp() of it is exactly 0 in float32. */
export const CAUSAL_MASK_VALUE = -1e9;

/** The transformers `CLIPTextConfig` fields the graph uses. */
export interface ClipTextConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  /** "quick_gelu" (x·sigmoid(1.702x), CLIP-L) or "gelu" (exact, erf). */
  hidden_act: 'quick_gelu' | 'gelu';
  layer_norm_eps: number;
  /** 2 selects the legacy argmax pooling (transformers' rule); default 2 as in transformers. */
  eos_token_id: number;
}

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/**
 * Checks a CLIP text encoder `config.json` against what this graph supports.
 * @throws CheckpointError naming the file and the field (the field is also `error.tensor`).
 */
export function validateClipConfig(raw: unknown, file: string): ClipTextConfig {
  const bad = (field: string, why: string): never => {
    throw new CheckpointError(`${file}: "${field}" ${why}`, file, field);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) bad('(root)', 'is not a JSON object');
  const c = raw as Record<string, unknown>;
  if (c.model_type !== 'clip_text_model') bad('model_type', `must be "clip_text_model" (got ${show(c.model_type)})`);
  if (c.architectures !== undefined) {
    if (!Array.isArray(c.architectures) || !c.architectures.includes('CLIPTextModel')) {
      bad('architectures', `must contain "CLIPTextModel" (got ${show(c.architectures)})`);
    }
  }
  const positiveInt = (field: string): number => {
    const v = c[field];
    if (!Number.isInteger(v) || (v as number) < 1) bad(field, `must be a positive integer (got ${show(v)})`);
    return v as number;
  };
  const vocab = positiveInt('vocab_size');
  // Ids are compared/arg-maxed as float32 in the pooling: exact below 2^24.
  if (vocab > 2 ** 24) bad('vocab_size', `must be at most 2^24 (got ${vocab})`);
  const hidden = positiveInt('hidden_size');
  const intermediate = positiveInt('intermediate_size');
  const layers = positiveInt('num_hidden_layers');
  const heads = positiveInt('num_attention_heads');
  if (hidden % heads !== 0) bad('num_attention_heads', `(${heads}) must divide hidden_size ${hidden}`);
  const positions = positiveInt('max_position_embeddings');
  const act = c.hidden_act ?? 'quick_gelu';
  if (act !== 'quick_gelu' && act !== 'gelu') bad('hidden_act', `must be "quick_gelu" or "gelu" (got ${show(act)})`);
  const eps = c.layer_norm_eps ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) bad('layer_norm_eps', `must be a positive number (got ${show(eps)})`);
  const eos = c.eos_token_id ?? 2;
  if (!Number.isInteger(eos) || (eos as number) < 0 || (eos as number) >= vocab) bad('eos_token_id', `must be a token id below vocab_size ${vocab} (got ${show(eos)})`);
  return {
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: intermediate,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    max_position_embeddings: positions,
    hidden_act: act as 'quick_gelu' | 'gelu',
    layer_norm_eps: eps as number,
    eos_token_id: eos as number,
  };
}

type Shapes = Map<string, number[]>;

/** Every tensor the graph reads, with its shape (the order in which they are read). */
export function expectedClipTensors(c: ClipTextConfig): Shapes {
  const d = c.hidden_size;
  const s: Shapes = new Map();
  s.set('text_model.embeddings.token_embedding.weight', [c.vocab_size, d]);
  s.set('text_model.embeddings.position_embedding.weight', [c.max_position_embeddings, d]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    s.set(`${p}.layer_norm1.weight`, [d]);
    s.set(`${p}.layer_norm1.bias`, [d]);
    for (const name of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      s.set(`${p}.self_attn.${name}.weight`, [d, d]);
      s.set(`${p}.self_attn.${name}.bias`, [d]);
    }
    s.set(`${p}.layer_norm2.weight`, [d]);
    s.set(`${p}.layer_norm2.bias`, [d]);
    s.set(`${p}.mlp.fc1.weight`, [c.intermediate_size, d]);
    s.set(`${p}.mlp.fc1.bias`, [c.intermediate_size]);
    s.set(`${p}.mlp.fc2.weight`, [d, c.intermediate_size]);
    s.set(`${p}.mlp.fc2.bias`, [d]);
  }
  s.set('text_model.final_layer_norm.weight', [d]);
  s.set('text_model.final_layer_norm.bias', [d]);
  return s;
}

/**
 * Tensors a CLIPTextModel checkpoint may hold that the graph does not read: the
 * `position_ids` buffer (int64 arange, saved by older transformers versions).
 */
export function isIgnoredClipTensor(name: string): boolean {
  return name === 'text_model.embeddings.position_ids';
}

/**
 * Looks up rows of an embedding table [rows, dim] stored as `floatWeight` stores it
 * (float32 at fp32, float16 otherwise), gathering before the Cast so that only the rows
 * in use are widened. Shared by the CLIP and T5 graphs.
 */
export async function embeddingLookup(ctx: LayerContext, name: string, rows: number, dim: number, ids: string): Promise<string> {
  const { g } = ctx;
  const values = await ctx.weights.read(name, [rows, dim]);
  if (ctx.precision === 'fp32') return g.op('Gather', [g.initializer(name, 'float32', [rows, dim], values), ids], { axis: 0 });
  const table = g.initializer(name, 'float16', [rows, dim], float32ToFloat16Bytes(values));
  return g.op('Cast', [g.op('Gather', [table, ids], { axis: 0 })], { to: 1 });
}

/** Upper-triangular (j > i) large-negative mask [1, 1, S, S], zero elsewhere. */
export function causalMask(seqLen: number): Float32Array {
  const mask = new Float32Array(seqLen * seqLen);
  for (let i = 0; i < seqLen; i++) for (let j = i + 1; j < seqLen; j++) mask[i * seqLen + j] = CAUSAL_MASK_VALUE;
  return mask;
}

/** LayerNormalization with the checkpoint's `${prefix}.weight` and `.bias`. */
async function layerNorm(ctx: LayerContext, x: string, prefix: string, dim: number, eps: number): Promise<string> {
  const w = await param(ctx, `${prefix}.weight`, [dim]);
  const b = await param(ctx, `${prefix}.bias`, [dim]);
  return ctx.g.op('LayerNormalization', [x, w, b], { axis: -1, epsilon: { float: eps } });
}

/** The MLP activation: quick_gelu x·sigmoid(1.702x), or exact gelu 0.5·x·(1 + erf(x/√2)). */
function activation(ctx: LayerContext, x: string, act: ClipTextConfig['hidden_act']): string {
  const { g } = ctx;
  if (act === 'quick_gelu') return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [x, g.constFloat([1.702], [])])])]);
  const erf = g.op('Erf', [g.op('Mul', [x, g.constFloat([Math.SQRT1_2], [])])]);
  return g.op('Mul', [g.op('Mul', [x, g.constFloat([0.5], [])]), g.op('Add', [erf, g.constFloat([1], [])])]);
}

/**
 * Adds the CLIP text encoder to `ctx.g`: input `input_ids` int64 [1, S] (S =
 * max_position_embeddings), outputs `pooled` float32 [1, D] and `last_hidden_state`
 * float32 [1, S, D]. Reads exactly the tensors of `expectedClipTensors(config)`, each once.
 */
export async function buildClipTextEncoder(ctx: LayerContext, c: ClipTextConfig): Promise<void> {
  const { g } = ctx;
  const d = c.hidden_size;
  const seq = c.max_position_embeddings;
  const f = c.intermediate_size;
  const eps = c.layer_norm_eps;
  const ids = g.input('input_ids', 'int64', [1, seq]);

  const tokens = await embeddingLookup(ctx, 'text_model.embeddings.token_embedding.weight', c.vocab_size, d, ids);
  // position_ids = arange(S) and S = max_position_embeddings: the whole table, in order.
  const positions = await param(ctx, 'text_model.embeddings.position_embedding.weight', [seq, d]);
  let x = g.op('Add', [tokens, positions]);

  const mask = g.initializer('causal_mask', 'float32', [1, 1, seq, seq], causalMask(seq));
  const scale = 1 / Math.sqrt(d / c.num_attention_heads);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    x = await g.scoped(`layer.${i}`, p, async () => {
      const h = await layerNorm(ctx, x, `${p}.layer_norm1`, d, eps);
      const q = await linear(ctx, h, `${p}.self_attn.q_proj`, d, d);
      const k = await linear(ctx, h, `${p}.self_attn.k_proj`, d, d);
      const v = await linear(ctx, h, `${p}.self_attn.v_proj`, d, d);
      // MultiHeadAttention inputs: query, key, value, bias, key_padding_mask, attention_bias.
      const attended = g.op('MultiHeadAttention', [q, k, v, '', '', mask], { num_heads: c.num_attention_heads, scale: { float: scale } }, MS);
      const y = g.op('Add', [x, await linear(ctx, attended, `${p}.self_attn.out_proj`, d, d)]);

      const m = await layerNorm(ctx, y, `${p}.layer_norm2`, d, eps);
      const up = activation(ctx, await linear(ctx, m, `${p}.mlp.fc1`, d, f), c.hidden_act);
      return g.op('Add', [y, await linear(ctx, up, `${p}.mlp.fc2`, f, d)]);
    });
  }
  const last = await layerNorm(ctx, x, 'text_model.final_layer_norm', d, eps);

  // Pooling position [1] int64. Ids go through float32 (exact below 2^24, checked by the
  // config validation) so that the ops are the common float ones; ArgMax returns the first
  // maximum (select_last_index 0), like torch.argmax.
  const idsFloat = g.op('Cast', [ids], { to: 1 });
  const scores = c.eos_token_id === 2 ? idsFloat : g.op('Cast', [g.op('Equal', [idsFloat, g.constFloat([c.eos_token_id], [])])], { to: 1 });
  const position = g.op('ArgMax', [scores], { axis: 1, keepdims: 0, select_last_index: 0 });
  const pooled = g.op('Reshape', [g.op('Gather', [last, position], { axis: 1 }), g.constInt64([1, d])]);

  g.output(pooled, 'pooled', 'float32', [1, d]);
  g.output(last, 'last_hidden_state', 'float32', [1, seq, d]);
}
