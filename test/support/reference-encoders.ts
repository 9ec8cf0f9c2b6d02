/**
 * Independent references for the text-encoder graphs: the transformers forward passes of
 * `CLIPTextModel` and `T5EncoderModel` (v1.1, encoder only) written as plain float64 loops
 * over the checkpoint tensors, by name. Nothing here is shared with the graph builders
 * (no imports from tools/), so a misreading of the models there does not repeat here.
 *
 * Weights are torch layouts: Linear weight [out, in] row-major, Embedding [rows, dim].
 */

/** The config fields the references use (a subset of the HF config.json). */
export interface ClipReferenceConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  hidden_act: string;
  layer_norm_eps: number;
  eos_token_id: number;
}

export interface T5ReferenceConfig {
  vocab_size: number;
  d_model: number;
  d_kv: number;
  num_heads: number;
  d_ff: number;
  num_layers: number;
  relative_attention_num_buckets: number;
  relative_attention_max_distance: number;
  layer_norm_epsilon: number;
}

type Weights = Map<string, Float32Array>;

function get(weights: Weights, name: string, size: number): Float32Array {
  const w = weights.get(name);
  if (!w) throw new Error(`reference: tensor ${name} missing`);
  if (w.length !== size) throw new Error(`reference: tensor ${name} has ${w.length} values, expected ${size}`);
  return w;
}

/** A sequence of S vectors of width n, one Float64Array per position. */
type Rows = Float64Array[];

/** y = x·Wᵀ (+ b) for each row, W [outF, inF]. */
function dense(x: Rows, w: Float32Array, b: Float32Array | null, inF: number, outF: number): Rows {
  return x.map((row) => {
    const y = new Float64Array(outF);
    for (let o = 0; o < outF; o++) {
      let acc = b ? b[o] : 0;
      const base = o * inF;
      for (let i = 0; i < inF; i++) acc += w[base + i] * row[i];
      y[o] = acc;
    }
    return y;
  });
}

function addRows(a: Rows, b: Rows): Rows {
  return a.map((row, s) => row.map((v, i) => v + b[s][i]));
}

/** torch LayerNorm (biased variance) with weight and bias. */
function layerNormRows(x: Rows, w: Float32Array, b: Float32Array, eps: number): Rows {
  return x.map((row) => {
    const n = row.length;
    let mean = 0;
    for (const v of row) mean += v;
    mean /= n;
    let variance = 0;
    for (const v of row) variance += (v - mean) ** 2;
    variance /= n;
    const inv = 1 / Math.sqrt(variance + eps);
    return row.map((v, i) => (v - mean) * inv * w[i] + b[i]);
  });
}

/** T5LayerNorm: no mean subtraction, no bias: w · x / sqrt(mean(x²) + eps). */
function t5LayerNormRows(x: Rows, w: Float32Array, eps: number): Rows {
  return x.map((row) => {
    let ms = 0;
    for (const v of row) ms += v * v;
    ms /= row.length;
    const inv = 1 / Math.sqrt(ms + eps);
    return row.map((v, i) => w[i] * (v * inv));
  });
}

/**
 * Multi-head attention over rows q, k, v [S, H·dh]: softmax(scale · q·kᵀ + bias(h, i, j))·v,
 * with keys j > i skipped when `causal`.
 */
function attentionRows(
  q: Rows,
  k: Rows,
  v: Rows,
  heads: number,
  headDim: number,
  scale: number,
  causal: boolean,
  bias: ((h: number, i: number, j: number) => number) | null,
): Rows {
  const S = q.length;
  const out: Rows = q.map(() => new Float64Array(heads * headDim));
  const scores = new Float64Array(S);
  for (let h = 0; h < heads; h++) {
    const off = h * headDim;
    for (let i = 0; i < S; i++) {
      const last = causal ? i : S - 1;
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        let dot = 0;
        for (let e = 0; e < headDim; e++) dot += q[i][off + e] * k[j][off + e];
        let s = dot * scale;
        if (bias) s += bias(h, i, j);
        scores[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      for (let j = 0; j <= last; j++) {
        const p = scores[j] / sum;
        for (let e = 0; e < headDim; e++) out[i][off + e] += p * v[j][off + e];
      }
    }
  }
  return out;
}

function flatten(rows: Rows): Float64Array {
  const width = rows[0]?.length ?? 0;
  const out = new Float64Array(rows.length * width);
  rows.forEach((row, s) => out.set(row, s * width));
  return out;
}

/**
 * transformers `CLIPTextModel` forward (no attention mask: the causal mask only).
 * @param ids exactly max_position_embeddings token ids (already padded/truncated)
 * @returns pooled [D] and lastHidden [S·D] (row-major [S, D])
 */
export function clipTextReference(weights: Weights, config: ClipReferenceConfig, ids: number[]): { pooled: Float64Array; lastHidden: Float64Array; poolIndex: number } {
  const D = config.hidden_size;
  const I = config.intermediate_size;
  const H = config.num_attention_heads;
  const S = ids.length;
  if (S > config.max_position_embeddings) throw new Error('reference: too many ids');
  const tok = get(weights, 'text_model.embeddings.token_embedding.weight', config.vocab_size * D);
  const pos = get(weights, 'text_model.embeddings.position_embedding.weight', config.max_position_embeddings * D);

  let x: Rows = ids.map((id, s) => {
    const row = new Float64Array(D);
    for (let i = 0; i < D; i++) row[i] = tok[id * D + i] + pos[s * D + i];
    return row;
  });

  const act = (v: number): number => {
    if (config.hidden_act === 'quick_gelu') return v / (1 + Math.exp(-1.702 * v));
    if (config.hidden_act === 'gelu') return 0.5 * v * (1 + erf(v / Math.SQRT2));
    throw new Error(`reference: activation ${config.hidden_act}`);
  };
  const eps = config.layer_norm_eps;
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `text_model.encoder.layers.${l}`;
    const w = (name: string, size: number) => get(weights, `${p}.${name}`, size);
    const h = layerNormRows(x, w('layer_norm1.weight', D), w('layer_norm1.bias', D), eps);
    const q = dense(h, w('self_attn.q_proj.weight', D * D), w('self_attn.q_proj.bias', D), D, D);
    const k = dense(h, w('self_attn.k_proj.weight', D * D), w('self_attn.k_proj.bias', D), D, D);
    const v = dense(h, w('self_attn.v_proj.weight', D * D), w('self_attn.v_proj.bias', D), D, D);
    const headDim = D / H;
    const a = attentionRows(q, k, v, H, headDim, headDim ** -0.5, true, null);
    x = addRows(x, dense(a, w('self_attn.out_proj.weight', D * D), w('self_attn.out_proj.bias', D), D, D));
    const m = layerNormRows(x, w('layer_norm2.weight', D), w('layer_norm2.bias', D), eps);
    const up = dense(m, w('mlp.fc1.weight', I * D), w('mlp.fc1.bias', I), D, I).map((row) => row.map(act));
    x = addRows(x, dense(up, w('mlp.fc2.weight', D * I), w('mlp.fc2.bias', D), I, D));
  }
  const last = layerNormRows(x, get(weights, 'text_model.final_layer_norm.weight', D), get(weights, 'text_model.final_layer_norm.bias', D), eps);

  // transformers CLIPTextTransformer: eos_token_id == 2 → input_ids.argmax(-1) (first max),
  // else (input_ids == eos_token_id).int().argmax(-1) (first match, 0 if none).
  let poolIndex = 0;
  if (config.eos_token_id === 2) {
    for (let s = 1; s < S; s++) if (ids[s] > ids[poolIndex]) poolIndex = s;
  } else {
    const found = ids.indexOf(config.eos_token_id);
    poolIndex = found < 0 ? 0 : found;
  }
  return { pooled: Float64Array.from(last[poolIndex]), lastHidden: flatten(last), poolIndex };
}

/** erf(x) to ~1e-15: Maclaurin series below 2.5, the erfc continued fraction above. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 100; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction (Lentz) for larger |x|.
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = ax + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/**
 * The bucket of relative position `memoryPosition − contextPosition`, following
 * transformers `T5Attention._relative_position_bucket(bidirectional=True)` line by line,
 * with torch's float32 tensors emulated through a Float32Array.
 */
export function t5BucketReference(relativePosition: number, numBuckets: number, maxDistance: number): number {
  const f32 = new Float32Array(1);
  const toF32 = (v: number): number => ((f32[0] = v), f32[0]);
  let relativeBuckets = 0;
  numBuckets = Math.floor(numBuckets / 2);
  relativeBuckets += (relativePosition > 0 ? 1 : 0) * numBuckets;
  relativePosition = Math.abs(relativePosition);
  const maxExact = Math.floor(numBuckets / 2);
  const isSmall = relativePosition < maxExact;
  if (isSmall) return relativeBuckets + relativePosition;
  // torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
  const ratio = toF32(relativePosition / maxExact);
  const logged = toF32(Math.log(ratio));
  const divided = toF32(logged / toF32(Math.log(maxDistance / maxExact)));
  const times = toF32(divided * (numBuckets - maxExact));
  let large = maxExact + (times < 0 ? Math.ceil(times) : Math.floor(times)); // .to(torch.long) truncates
  large = Math.min(large, numBuckets - 1);
  return relativeBuckets + large;
}

/**
 * transformers `T5EncoderModel` forward (v1.1: gated-gelu with the tanh GELU, no
 * attention mask), returning last_hidden_state row-major [S, D] in float64.
 */
export function t5EncoderReference(weights: Weights, config: T5ReferenceConfig, ids: number[], embeddingName = 'shared.weight'): Float64Array {
  const D = config.d_model;
  const H = config.num_heads;
  const dkv = config.d_kv;
  const inner = H * dkv;
  const F = config.d_ff;
  const NB = config.relative_attention_num_buckets;
  const S = ids.length;
  const eps = config.layer_norm_epsilon;
  const emb = get(weights, embeddingName, config.vocab_size * D);
  let x: Rows = ids.map((id) => Float64Array.from(emb.subarray(id * D, (id + 1) * D)));

  // compute_bias: relative_attention_bias(bucket(memory − context)) → [H, q, k]; only block 0
  // has the table, and its bias is reused by every later block.
  const table = get(weights, 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', NB * H);
  const bucketOf = new Map<number, number>();
  for (let r = -(S - 1); r <= S - 1; r++) bucketOf.set(r, t5BucketReference(r, NB, config.relative_attention_max_distance));
  const bias = (h: number, i: number, j: number): number => table[bucketOf.get(j - i)! * H + h];

  const geluNew = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  for (let l = 0; l < config.num_layers; l++) {
    const p = `encoder.block.${l}.layer`;
    const w = (name: string, size: number) => get(weights, `${p}.${name}`, size);
    const n = t5LayerNormRows(x, w('0.layer_norm.weight', D), eps);
    const q = dense(n, w('0.SelfAttention.q.weight', inner * D), null, D, inner);
    const k = dense(n, w('0.SelfAttention.k.weight', inner * D), null, D, inner);
    const v = dense(n, w('0.SelfAttention.v.weight', inner * D), null, D, inner);
    const a = attentionRows(q, k, v, H, dkv, 1, false, bias);
    x = addRows(x, dense(a, w('0.SelfAttention.o.weight', D * inner), null, inner, D));
    const m = t5LayerNormRows(x, w('1.layer_norm.weight', D), eps);
    const gate = dense(m, w('1.DenseReluDense.wi_0.weight', F * D), null, D, F);
    const lin = dense(m, w('1.DenseReluDense.wi_1.weight', F * D), null, D, F);
    const hidden = gate.map((row, s) => row.map((g, i) => geluNew(g) * lin[s][i]));
    x = addRows(x, dense(hidden, w('1.DenseReluDense.wo.weight', D * F), null, F, D));
  }
  return flatten(t5LayerNormRows(x, get(weights, 'encoder.final_layer_norm.weight', D), eps));
}
