/**
 * The CLIP-L and T5 v1.1 encoder graphs on onnxruntime-node (CPU) against independent
 * float64 references (test/support/reference-encoders.ts), with tiny random checkpoints in
 * the transformers layout: padded prompts, prompts that fill the length, truncated prompts,
 * both CLIP pooling rules, short and FLUX-length T5 sequences, sharded T5 blocks, q8/q4.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../src/errors.ts';
import type { WeightPrecision } from '../src/package/manifest.ts';
import { randomWeights } from '../tools/checkpoint-writer.ts';
import { buildClipTextEncoder, expectedClipTensors, isIgnoredClipTensor, validateClipConfig, type ClipTextConfig } from '../src/convert/clip-graph.ts';
import type { LayerContext, WeightSource } from '../src/convert/layers.ts';
import { ExternalDataWriter, GraphBuilder } from '../src/convert/onnx-builder.ts';
import { openFileSink } from '../tools/convert/folder-sink.ts';
import {
  buildT5Blocks,
  buildT5Embed,
  estimateT5EmbedBytes,
  expectedT5Tensors,
  isIgnoredT5Tensor,
  planT5Shards,
  t5EmbeddingName,
  t5RelativePositionBuckets,
  validateT5Config,
  type T5Config,
  type T5ShardPlan,
} from '../src/convert/t5-graph.ts';
import { float16BytesToFloat32, float32ToFloat16Bytes } from '../src/formats/float16.ts';
import { dequantizeBlockwise, quantizeBlockwise } from '../src/convert/quantize.ts';
import { maxAbsDiff, relativeL2 } from './support/compare.ts';
import { clipTextReference, erf, t5BucketReference, t5EncoderReference } from './support/reference-encoders.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Random weights for every tensor, norm scales perturbed around 1 so that they matter. */
function makeWeights(shapes: Map<string, number[]>, seed: number): Map<string, Float32Array> {
  const values = randomWeights(seed);
  const perturb = randomWeights(seed ^ 0x5bd1e995);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of shapes) {
    let v = values(name, shape);
    if (/norm/.test(name) && name.endsWith('.weight') && shape.length === 1) {
      const p = perturb('perturbation', shape); // ±0.1·√(3/n)
      v = v.map((x, i) => x + 10 * p[i]);
    }
    out.set(name, v);
  }
  return out;
}

/** A WeightSource over a map that checks shapes and records each read (once). */
function mapSource(weights: Map<string, Float32Array>, reads?: Map<string, number[]>): WeightSource {
  return {
    async read(name, shape) {
      const w = weights.get(name);
      if (!w) throw new CheckpointError(`tensor ${name} is missing`, 'test', name);
      if (w.length !== shape.reduce((a, b) => a * b, 1)) throw new CheckpointError(`tensor ${name}: ${w.length} values for [${shape}]`, 'test', name);
      if (reads) {
        expect(reads.has(name), `${name} read twice`).toBe(false);
        reads.set(name, [...shape]);
      }
      return w;
    },
  };
}

/** Builds one graph into a fresh temp dir; returns the .onnx path and the builder. */
async function buildGraph(name: string, precision: WeightPrecision, source: WeightSource, body: (ctx: LayerContext) => Promise<void>): Promise<{ model: string; g: GraphBuilder }> {
  const dir = mkdtempSync(join(tmpdir(), `text-encoders-${name}-`));
  dirs.push(dir);
  const data = await ExternalDataWriter.create(`${name}.onnx_data`, await openFileSink(join(dir, `${name}.onnx_data`)));
  const g = new GraphBuilder(name, data);
  await body({ g, weights: source, precision });
  await data.finish();
  const model = join(dir, `${name}.onnx`);
  writeFileSync(model, g.encode());
  return { model, g };
}

const int64 = (ids: number[]) => new ort.Tensor('int64', BigInt64Array.from(ids.map((v) => BigInt(v))), [1, ids.length]);

/** Deterministic token ids in [lo, hi). */
function tokens(count: number, lo: number, hi: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo));
  });
}

/**
 * The weights as the graph stores them at `precision`: linear matrices through MatMulNBits'
 * quantization (q8/q4, block 32) or float16 (fp16), the embedding table in float16 (all but
 * fp32); other float tensors unchanged. The graph at `precision` must equal the reference run
 * on these (activations are float32 either way).
 */
function storedWeights(
  weights: Map<string, Float32Array>,
  shapes: Map<string, number[]>,
  precision: WeightPrecision,
  isEmbedding: (name: string) => boolean,
  isFloat32: (name: string) => boolean = () => false,
): Map<string, Float32Array> {
  const half = (v: Float32Array) => float16BytesToFloat32(float32ToFloat16Bytes(v));
  const out = new Map(weights);
  for (const [name, shape] of shapes) {
    const v = weights.get(name)!;
    if (shape.length !== 2 || isFloat32(name)) continue;
    if (isEmbedding(name)) out.set(name, half(v));
    else if (precision === 'fp16') out.set(name, half(v));
    else if (precision !== 'fp32') {
      const bits = precision === 'q4' ? 4 : 8;
      out.set(name, dequantizeBlockwise(quantizeBlockwise(v, shape[0], shape[1], bits, 32), shape[0], shape[1], bits, 32));
    }
  }
  return out;
}

/**
 * ε: the relative RMS error that storing a weight matrix adds. MatMulNBits rounds to steps of
 * absmax/2^(bits−1) per block of 32; for the uniform random weights here (absmax ≈ a, RMS
 * a/√3) the rounding RMS is step/√12, i.e. ε = 2^−bits. float16 keeps 11 significant bits:
 * relative rounding RMS ≈ 2^−12.
 */
const WEIGHT_ERROR = { fp16: 2 ** -12, q8: 2 ** -8, q4: 2 ** -4 } as const;
/**
 * Output error / ε, the model's sensitivity to weight noise, measured the same (±20%) at
 * fp16, q8 and q4 on these tiny random models: ~3 for CLIP (12 noisy matrices, √12 ≈ 3.5
 * added in quadrature and damped by the LayerNorms), ~8-11 for T5 (21 matrices, and the
 * unscaled q·kᵀ makes the softmax sensitive to q/k noise). The bounds are 2× that; at q4 the
 * T5 bound (1.0) is a regression check only: the exact check on the stored weights is what
 * proves the 4-bit path.
 */
const CLIP_SENSITIVITY = 6;
const T5_SENSITIVITY = 16;

// ---------------------------------------------------------------------------------------
// CLIP
// ---------------------------------------------------------------------------------------

const CLIP_RAW = {
  architectures: ['CLIPTextModel'],
  model_type: 'clip_text_model',
  vocab_size: 1000,
  hidden_size: 32,
  intermediate_size: 37,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  max_position_embeddings: 77,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
  bos_token_id: 0,
  eos_token_id: 2,
  pad_token_id: 1,
  projection_dim: 16,
  torch_dtype: 'float32',
};
/** The tiny vocabulary's `<|startoftext|>` / `<|endoftext|>` (CLIP: 49406 / 49407, the largest ids). */
const BOS = 998;
const EOS = 999;
const CLIP_S = 77;

/** As the FLUX CLIP tokenizer does: BOS, at most 75 tokens, EOS, padded with EOS to 77. */
function clipIds(body: number[]): number[] {
  const ids = [BOS, ...body.slice(0, CLIP_S - 2), EOS];
  while (ids.length < CLIP_S) ids.push(EOS);
  return ids;
}

/** Named id sequences with the pooling position each rule must pick (legacy argmax, first EOS match). */
const CLIP_CASES: { name: string; ids: number[]; argmax: number; firstEos: number }[] = [
  { name: 'padded with EOS', ids: clipIds(tokens(7, 3, 998, 1)), argmax: 8, firstEos: 8 },
  { name: 'exactly 75 tokens', ids: clipIds(tokens(75, 3, 998, 2)), argmax: 76, firstEos: 76 },
  { name: 'truncated from 120 tokens', ids: clipIds(tokens(120, 3, 998, 3)), argmax: 76, firstEos: 76 },
];
{
  // No EOS at all and the largest id mid-sequence: argmax picks it, the EOS rule falls back to 0.
  const ids = tokens(CLIP_S, 3, 990, 4);
  ids[30] = 995;
  CLIP_CASES.push({ name: 'no EOS, maximum at 30', ids, argmax: 30, firstEos: 0 });
}

async function runClip(model: string, ids: number[]): Promise<{ pooled: Float32Array; last: Float32Array }> {
  const session = await ort.InferenceSession.create(model);
  try {
    const out = await session.run({ input_ids: int64(ids) });
    expect(out.pooled.dims).toEqual([1, 32]);
    expect(out.last_hidden_state.dims).toEqual([1, CLIP_S, 32]);
    return { pooled: out.pooled.data as Float32Array, last: out.last_hidden_state.data as Float32Array };
  } finally {
    await session.release();
  }
}


/** Each bad config must fail with a CheckpointError naming the file and the field (also as `.tensor`). */
function expectConfigErrors(validate: (raw: unknown, file: string) => unknown, cases: [unknown, string][], file: string): void {
  for (const [raw, field] of cases) {
    let error: unknown;
    try {
      validate(raw, file);
    } catch (e) {
      error = e;
    }
    expect(error, field).toBeInstanceOf(CheckpointError);
    expect((error as CheckpointError).message).toContain(`"${field}"`);
    expect((error as CheckpointError).message).toContain(file);
    expect((error as CheckpointError).tensor).toBe(field);
  }
}

describe('CLIP text encoder graph', () => {
  const variants: { name: string; raw: Record<string, unknown>; pool: (c: (typeof CLIP_CASES)[number]) => number }[] = [
    { name: 'eos_token_id 2 (legacy argmax, as FLUX)', raw: CLIP_RAW, pool: (c) => c.argmax },
    { name: 'eos_token_id = the real EOS', raw: { ...CLIP_RAW, eos_token_id: EOS }, pool: (c) => c.firstEos },
    // Token 500 may occur in the random prompts: its first occurrence, else 0 (checked to differ below).
    { name: 'eos_token_id 500, exact gelu', raw: { ...CLIP_RAW, eos_token_id: 500, hidden_act: 'gelu' }, pool: (c) => Math.max(0, c.ids.indexOf(500)) },
  ];
  const weightsFor = (config: ClipTextConfig) => {
    const w = makeWeights(expectedClipTensors(config), 11);
    // An older-transformers checkpoint also carries the position_ids buffer: never read.
    w.set('text_model.embeddings.position_ids', Float32Array.from({ length: CLIP_S }, (_, i) => i));
    return w;
  };

  for (const variant of variants) {
    it(`matches the float64 reference at fp32 (relative L2 < 1e-5): ${variant.name}`, async () => {
      const config = validateClipConfig(variant.raw, 'text_encoder/config.json');
      const weights = weightsFor(config);
      const reads = new Map<string, number[]>();
      const { model } = await buildGraph('clip', 'fp32', mapSource(weights, reads), (ctx) => buildClipTextEncoder(ctx, config));
      expect(reads).toEqual(expectedClipTensors(config));
      for (const name of weights.keys()) expect(reads.has(name) || isIgnoredClipTensor(name), name).toBe(true);

      const cases = [...CLIP_CASES];
      if (config.eos_token_id === 500) {
        // 500 before the EOS: the EOS rule pools at 500, argmax would pool at the EOS.
        const ids = clipIds([...tokens(9, 3, 400, 5), 500, ...tokens(10, 3, 400, 6)]);
        cases.push({ name: 'token 500 at 10', ids, argmax: 21, firstEos: 10 });
      }
      const errors: Record<string, string> = {};
      for (const c of cases) {
        const ref = clipTextReference(weights, config, c.ids);
        const got = await runClip(model, c.ids);
        expect(ref.poolIndex, c.name).toBe(variant.pool(c));
        // The pooled row is exactly the last hidden state at the expected position.
        const at = variant.pool(c);
        expect(Array.from(got.pooled), c.name).toEqual(Array.from(got.last.subarray(at * 32, (at + 1) * 32)));
        const eLast = relativeL2(got.last, ref.lastHidden);
        const ePooled = relativeL2(got.pooled, ref.pooled);
        errors[c.name] = `last ${eLast.toExponential(2)}, pooled ${ePooled.toExponential(2)}`;
        expect(eLast, c.name).toBeLessThan(1e-5);
        expect(ePooled, c.name).toBeLessThan(1e-5);
      }
      console.log(`CLIP fp32 (${variant.name}) relative L2:`, errors);
    });
  }

  it('the causal mask matters: changing a later token leaves earlier positions unchanged', async () => {
    const config = validateClipConfig(CLIP_RAW, 'config.json');
    const weights = weightsFor(config);
    const { model } = await buildGraph('clip', 'fp32', mapSource(weights), (ctx) => buildClipTextEncoder(ctx, config));
    const a = clipIds(tokens(20, 3, 998, 7));
    const b = [...a];
    b[15] = 3 + ((b[15] + 1) % 990);
    const [ra, rb] = [await runClip(model, a), await runClip(model, b)];
    expect(maxAbsDiff(ra.last.subarray(0, 15 * 32), rb.last.subarray(0, 15 * 32))).toBe(0);
    expect(maxAbsDiff(ra.last.subarray(15 * 32, 16 * 32), rb.last.subarray(15 * 32, 16 * 32))).toBeGreaterThan(1e-3);
  });

  for (const precision of ['fp16', 'q8', 'q4'] as const) {
    it(`at ${precision}: equals the reference on the stored weights, and stays within ${CLIP_SENSITIVITY}·ε of the float one`, async () => {
      const config = validateClipConfig(CLIP_RAW, 'config.json');
      const weights = weightsFor(config);
      const stored = storedWeights(weights, expectedClipTensors(config), precision, (name) => name.startsWith('text_model.embeddings.token_embedding'), (name) => name.startsWith('text_model.embeddings.position_embedding'));
      const { model, g } = await buildGraph(`clip-${precision}`, precision, mapSource(weights), (ctx) => buildClipTextEncoder(ctx, config));
      const bound = CLIP_SENSITIVITY * WEIGHT_ERROR[precision];
      const errors: Record<string, string> = {};
      for (const c of CLIP_CASES) {
        const got = await runClip(model, c.ids);
        const exact = clipTextReference(stored, config, c.ids);
        const eExact = Math.max(relativeL2(got.last, exact.lastHidden), relativeL2(got.pooled, exact.pooled));
        expect(eExact, c.name).toBeLessThan(1e-5);
        const ref = clipTextReference(weights, config, c.ids);
        const eLast = relativeL2(got.last, ref.lastHidden);
        const ePooled = relativeL2(got.pooled, ref.pooled);
        errors[c.name] = `last ${eLast.toExponential(2)}, pooled ${ePooled.toExponential(2)} (stored weights: ${eExact.toExponential(2)})`;
        expect(eLast, c.name).toBeLessThan(bound);
        expect(ePooled, c.name).toBeLessThan(bound);
      }
      console.log(`CLIP ${precision} relative L2 vs float weights (bound ${bound.toExponential(2)}; ${g.weightBytes} weight bytes):`, errors);
    });
  }

  it('rejects unsupported configs, naming the file and the field', () => {
    const file = 'text_encoder/config.json';
    const cases: [unknown, string][] = [
      [{ ...CLIP_RAW, model_type: 'clip' }, 'model_type'],
      [{ ...CLIP_RAW, architectures: ['CLIPTextModelWithProjection'] }, 'architectures'],
      [{ ...CLIP_RAW, hidden_act: 'relu' }, 'hidden_act'],
      [{ ...CLIP_RAW, num_attention_heads: 5 }, 'num_attention_heads'],
      [{ ...CLIP_RAW, hidden_size: 0 }, 'hidden_size'],
      [{ ...CLIP_RAW, eos_token_id: 1000 }, 'eos_token_id'],
      [{ ...CLIP_RAW, layer_norm_eps: -1 }, 'layer_norm_eps'],
      [{ ...CLIP_RAW, max_position_embeddings: undefined }, 'max_position_embeddings'],
      [[], '(root)'],
    ];
    expectConfigErrors(validateClipConfig, cases, file);
    // Defaults as transformers' CLIPTextConfig: eos 2, eps 1e-5, quick_gelu.
    const rest: Record<string, unknown> = { ...CLIP_RAW };
    for (const field of ['eos_token_id', 'layer_norm_eps', 'hidden_act']) delete rest[field];
    expect(validateClipConfig(rest, file)).toMatchObject({ eos_token_id: 2, layer_norm_eps: 1e-5, hidden_act: 'quick_gelu' });
  });

  it('expects the FLUX CLIP-L tensors', () => {
    const flux = validateClipConfig({ ...CLIP_RAW, vocab_size: 49408, hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12 }, 'config.json');
    const shapes = expectedClipTensors(flux);
    expect(shapes.size).toBe(2 + 12 * 16 + 2);
    expect(shapes.get('text_model.embeddings.token_embedding.weight')).toEqual([49408, 768]);
    expect(shapes.get('text_model.encoder.layers.11.mlp.fc1.weight')).toEqual([3072, 768]);
    expect(shapes.get('text_model.encoder.layers.11.mlp.fc2.weight')).toEqual([768, 3072]);
    const params = [...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
    expect(params).toBe(123_060_480); // CLIP-L text model without position_ids
    expect(isIgnoredClipTensor('text_model.embeddings.position_ids')).toBe(true);
    expect(isIgnoredClipTensor('text_projection.weight')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------
// T5
// ---------------------------------------------------------------------------------------

const T5_RAW = {
  architectures: ['T5EncoderModel'],
  model_type: 't5',
  vocab_size: 500,
  d_model: 32,
  d_kv: 8,
  num_heads: 4,
  d_ff: 40,
  num_layers: 3,
  num_decoder_layers: 3,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  feed_forward_proj: 'gated-gelu',
  dense_act_fn: 'gelu_new',
  is_gated_act: true,
  layer_norm_epsilon: 1e-6,
  dropout_rate: 0.1,
  tie_word_embeddings: false,
  eos_token_id: 1,
  pad_token_id: 0,
};

/** As the FLUX T5 tokenizer does: at most S−1 tokens, EOS (1), padded with 0 to S. */
function t5Ids(body: number[], seqLen: number): number[] {
  const ids = [...body.slice(0, seqLen - 1), 1];
  while (ids.length < seqLen) ids.push(0);
  return ids;
}

function t5Cases(seqLen: number): { name: string; ids: number[] }[] {
  return [
    { name: 'padded', ids: t5Ids(tokens(Math.min(10, seqLen >> 1), 2, 500, 21), seqLen) },
    { name: `exactly ${seqLen - 1} tokens`, ids: t5Ids(tokens(seqLen - 1, 2, 500, 22), seqLen) },
    { name: `truncated from ${seqLen + 44}`, ids: t5Ids(tokens(seqLen + 44, 2, 500, 23), seqLen) },
  ];
}

/** Builds the embed shard and the planned block shards; returns their model paths and total weight bytes. */
async function buildT5(config: T5Config, weights: Map<string, Float32Array>, precision: WeightPrecision, plans: T5ShardPlan[], seqLen: number, reads?: Map<string, number[]>, embeddingName?: string) {
  const source = mapSource(weights, reads);
  const embed = await buildGraph('t5_embed', precision, source, (ctx) => buildT5Embed(ctx, config, seqLen, { embeddingName }));
  const blocks = [];
  for (const [i, plan] of plans.entries()) blocks.push(await buildGraph(`t5_blocks_${i}`, precision, source, (ctx) => buildT5Blocks(ctx, config, plan, seqLen)));
  return { embed, blocks };
}

/** Runs the shard chain the way the pipeline will: embed → blocks → … → last_hidden_state. */
async function runT5(models: Awaited<ReturnType<typeof buildT5>>, ids: number[], d: number): Promise<Float32Array> {
  const embed = await ort.InferenceSession.create(models.embed.model);
  const e = await embed.run({ input_ids: int64(ids) });
  await embed.release();
  let hidden = e.hidden;
  const positionBias = e.position_bias;
  for (const [i, b] of models.blocks.entries()) {
    const session = await ort.InferenceSession.create(b.model);
    const out = await session.run({ hidden, position_bias: positionBias });
    await session.release();
    hidden = i === models.blocks.length - 1 ? out.last_hidden_state : out.hidden_out;
  }
  expect(hidden.dims).toEqual([1, ids.length, d]);
  return hidden.data as Float32Array;
}

describe('T5 encoder graphs', () => {
  const file = 'text_encoder_2/config.json';
  const variants = [
    { name: 'S 256 (FLUX.1 [schnell])', raw: T5_RAW, seqLen: 256 },
    { name: 'S 512 (FLUX.1 [dev])', raw: T5_RAW, seqLen: 512 },
    // Short S shows the bucket edges near 0; d_kv 6 makes heads·d_kv (24) differ from d_model.
    { name: 'S 16, heads·d_kv ≠ d_model', raw: { ...T5_RAW, d_kv: 6 }, seqLen: 16 },
  ];

  it('computes the relative-position buckets like transformers', () => {
    // The well-known T5 table for 32 buckets / max distance 128: per direction 8 exact buckets,
    // then log-spaced buckets starting at distances 8, 12, 16, 23, 32, 46, 64, 91.
    const starts = [8, 12, 16, 23, 32, 46, 64, 91];
    const expected = (r: number) => {
      const n = Math.abs(r);
      const base = r > 0 ? 16 : 0;
      if (n < 8) return base + n;
      return base + 8 + starts.filter((s) => n >= s).length - 1;
    };
    const S = 256;
    const buckets = t5RelativePositionBuckets(S, 32, 128);
    for (let i = 0; i < S; i++) {
      for (let j = 0; j < S; j++) {
        const b = Number(buckets[i * S + j]);
        if (b !== expected(j - i)) expect(b, `query ${i}, key ${j}`).toBe(expected(j - i));
      }
    }
    // Other bucket counts / distances against the reference's independent float32 emulation.
    for (const [nb, maxDistance] of [[32, 128], [16, 64], [64, 256], [8, 20], [12, 7]]) {
      const got = t5RelativePositionBuckets(300, nb, maxDistance);
      for (let r = -299; r <= 299; r++) {
        const i = r < 0 ? -r : 0;
        expect(Number(got[i * 300 + i + r]), `${nb}/${maxDistance} at ${r}`).toBe(t5BucketReference(r, nb, maxDistance));
      }
    }
  });

  for (const variant of variants) {
    it(`matches the float64 reference at fp32 (relative L2 < 1e-5): ${variant.name}`, async () => {
      const config = validateT5Config(variant.raw, file);
      const weights = makeWeights(expectedT5Tensors(config), 31);
      const reads = new Map<string, number[]>();
      const models = await buildT5(config, weights, 'fp32', planT5Shards(config, 'fp32', 2 ** 30), variant.seqLen, reads);
      expect(models.blocks).toHaveLength(1);
      expect(reads).toEqual(expectedT5Tensors(config));
      const errors: Record<string, string> = {};
      for (const c of t5Cases(variant.seqLen)) {
        const got = await runT5(models, c.ids, config.d_model);
        const e = relativeL2(got, t5EncoderReference(weights, config, c.ids));
        errors[c.name] = e.toExponential(2);
        expect(e, c.name).toBeLessThan(1e-5);
      }
      console.log(`T5 fp32 (${variant.name}) relative L2:`, errors);
    });
  }

  it('gives the same result in ≥ 2 block shards as in one', async () => {
    const config = validateT5Config(T5_RAW, file);
    const weights = makeWeights(expectedT5Tensors(config), 31);
    const one = planT5Shards(config, 'fp32', 2 ** 30);
    const blockBytes = one[0].estimatedBytes / config.num_layers;
    const several = planT5Shards(config, 'fp32', Math.floor(2.5 * blockBytes));
    expect(several.map((p) => [p.blocks, p.final])).toEqual([[[0, 2], false], [[2, 3], true]]);
    const reads = new Map<string, number[]>();
    const sharded = await buildT5(config, weights, 'fp32', several, 256, reads);
    expect(reads).toEqual(expectedT5Tensors(config));
    const unsharded = await buildT5(config, weights, 'fp32', one, 256);
    for (const [i, plan] of several.entries()) {
      // The estimate is what the shard stores (block weights and norms, no other constants).
      expect(sharded.blocks[i].g.weightBytes, `shard ${i}`).toBe(plan.estimatedBytes);
    }
    for (const c of t5Cases(256)) {
      const a = await runT5(sharded, c.ids, config.d_model);
      const b = await runT5(unsharded, c.ids, config.d_model);
      expect(maxAbsDiff(a, b), c.name).toBe(0);
    }
  });

  it('reads the tied embedding under either name', async () => {
    const config = validateT5Config({ ...T5_RAW, num_layers: 1 }, file);
    const shared = makeWeights(expectedT5Tensors(config), 41);
    const aliased = new Map(shared);
    aliased.set('encoder.embed_tokens.weight', shared.get('shared.weight')!);
    aliased.delete('shared.weight');
    expect(t5EmbeddingName(shared.keys(), file)).toBe('shared.weight');
    expect(t5EmbeddingName(aliased.keys(), file)).toBe('encoder.embed_tokens.weight');
    expect(t5EmbeddingName([...shared.keys(), 'encoder.embed_tokens.weight'], file)).toBe('shared.weight');
    expect(() => t5EmbeddingName(['encoder.final_layer_norm.weight'], file)).toThrow(/shared\.weight.*encoder\.embed_tokens\.weight/);
    expect(isIgnoredT5Tensor('encoder.embed_tokens.weight') && isIgnoredT5Tensor('shared.weight')).toBe(true);

    const name = t5EmbeddingName(aliased.keys(), file);
    const reads = new Map<string, number[]>();
    const plans = planT5Shards(config, 'fp32', 2 ** 30);
    const a = await buildT5(config, aliased, 'fp32', plans, 16, reads, name);
    expect(reads).toEqual(expectedT5Tensors(config, name));
    const b = await buildT5(config, shared, 'fp32', plans, 16);
    const ids = t5Cases(16)[0].ids;
    expect(maxAbsDiff(await runT5(a, ids, 32), await runT5(b, ids, 32))).toBe(0);
  });

  for (const precision of ['fp16', 'q8', 'q4'] as const) {
    it(`at ${precision}: equals the reference on the stored weights, and stays within ${T5_SENSITIVITY}·ε of the float one`, async () => {
      const config = validateT5Config(T5_RAW, file);
      const weights = makeWeights(expectedT5Tensors(config), 31);
      const stored = storedWeights(weights, expectedT5Tensors(config), precision, (name) => name === 'shared.weight', (name) => name.includes('relative_attention_bias'));
      const plans = planT5Shards(config, precision, 2 ** 30);
      const models = await buildT5(config, weights, precision, plans, 256);
      expect(models.blocks[0].g.weightBytes).toBe(plans[0].estimatedBytes);
      expect(models.embed.g.weightBytes).toBeLessThanOrEqual(estimateT5EmbedBytes(config, precision, 256) + 8); // + the Unsqueeze axes
      const bound = T5_SENSITIVITY * WEIGHT_ERROR[precision];
      const errors: Record<string, string> = {};
      for (const c of t5Cases(256)) {
        const got = await runT5(models, c.ids, config.d_model);
        const eExact = relativeL2(got, t5EncoderReference(stored, config, c.ids));
        expect(eExact, c.name).toBeLessThan(1e-5);
        const e = relativeL2(got, t5EncoderReference(weights, config, c.ids));
        errors[c.name] = `${e.toExponential(2)} (stored weights: ${eExact.toExponential(2)})`;
        expect(e, c.name).toBeLessThan(bound);
      }
      console.log(`T5 ${precision} relative L2 vs float weights (bound ${bound.toExponential(2)}):`, errors);
    });
  }

  it('plans FLUX T5-XXL shards under the limit', () => {
    const xxl = validateT5Config({ ...T5_RAW, vocab_size: 32128, d_model: 4096, d_kv: 64, num_heads: 64, d_ff: 10240, num_layers: 24 }, file);
    const shapes = expectedT5Tensors(xxl);
    const params = [...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
    expect(params).toBe(4_762_310_656); // T5-XXL encoder: 4.76B parameters
    for (const precision of ['fp32', 'fp16', 'q8', 'q4'] as const) {
      const plans = planT5Shards(xxl, precision, 1024 * 2 ** 20);
      expect(plans.map((p) => p.blocks[0])[0]).toBe(0);
      expect(plans[plans.length - 1].blocks[1]).toBe(24);
      expect(plans.filter((p) => p.final)).toHaveLength(1);
      for (const p of plans) expect(p.estimatedBytes).toBeLessThanOrEqual(1024 * 2 ** 20);
      const total = plans.reduce((a, p) => a + p.estimatedBytes, 0);
      console.log(`T5-XXL ${precision}: ${plans.length} block shards, ${(total / 2 ** 30).toFixed(2)} GiB + embed ${(estimateT5EmbedBytes(xxl, precision, 256) / 2 ** 20).toFixed(0)} MiB`);
    }
    expect(() => planT5Shards(xxl, 'fp32', 512 * 2 ** 20)).toThrow(CheckpointError);
  });

  it('rejects unsupported configs, naming the file and the field', () => {
    const cases: [unknown, string][] = [
      [{ ...T5_RAW, model_type: 'mt5' }, 'model_type'],
      [{ ...T5_RAW, architectures: ['UMT5EncoderModel'] }, 'architectures'],
      [{ ...T5_RAW, architectures: ['T5ForConditionalGeneration'] }, 'architectures'],
      [{ ...T5_RAW, feed_forward_proj: 'relu' }, 'feed_forward_proj'],
      [{ ...T5_RAW, dense_act_fn: 'gelu' }, 'dense_act_fn'],
      [{ ...T5_RAW, is_gated_act: false }, 'is_gated_act'],
      [{ ...T5_RAW, d_kv: 0 }, 'd_kv'],
      [{ ...T5_RAW, num_heads: 1.5 }, 'num_heads'],
      [{ ...T5_RAW, relative_attention_num_buckets: 30 }, 'relative_attention_num_buckets'],
      [{ ...T5_RAW, relative_attention_max_distance: 8 }, 'relative_attention_max_distance'],
      [{ ...T5_RAW, layer_norm_epsilon: 0 }, 'layer_norm_epsilon'],
      [null, '(root)'],
    ];
    expectConfigErrors(validateT5Config, cases, file);
    // Older configs lack relative_attention_max_distance (transformers' default 128).
    const rest: Record<string, unknown> = { ...T5_RAW };
    delete rest.relative_attention_max_distance;
    expect(validateT5Config(rest, file).relative_attention_max_distance).toBe(128);
  });
});

it('the reference erf is accurate', () => {
  // Values from Python's math.erf.
  const cases: [number, number][] = [[0.1, 0.1124629160182849], [1, 0.8427007929497149], [2.4, 0.999311486103355], [2.6, 0.9997639655834707], [4, 0.9999999845827421], [-3, -0.9999779095030014]];
  for (const [x, y] of cases) expect(Math.abs(erf(x) - y)).toBeLessThan(1e-14);
});
