/**
 * Attention in groups of heads (so that unfused attention never materialises scores for
 * all heads at once): the grouped block graphs compute the same numbers as one
 * MultiHeadAttention node, on onnxruntime-node (CPU), and the golden tiny-flux-a pipeline
 * still matches diffusers with one head per group.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, LIMITS } from '../src/defaults.ts';
import { runFluxPipeline } from '../src/pipeline/flux-pipeline.ts';
import type { GraphSession, ModelRuntime } from '../src/pipeline/runtime.ts';
import { prepareTransformer } from '../src/convert/components.ts';
import { writeGraph } from '../src/convert/convert.ts';
import { FLUX_SCHNELL_TRANSFORMER } from '../src/convert/flux-schnell-configs.ts';
import { attentionHeadsPerGroup, type LayerContext, type WeightSource } from '../src/convert/layers.ts';
import { ExternalDataWriter, GraphBuilder } from '../src/convert/onnx-builder.ts';
import type { PackageSink } from '../src/convert/package-sink.ts';
import { buildBlocks, defaultAttentionHeadsPerGroup, validateTransformerConfig, type TransformerConfig } from '../src/convert/transformer-graphs.ts';
import { convertCheckpoint } from '../tools/convert/convert-local.ts';
import { openFileSink } from '../tools/convert/folder-sink.ts';
import { localCheckpointFiles } from '../tools/convert/local-files.ts';
import { openNodeRuntime } from '../tools/node-runtime.ts';
import { relativeL2 } from './support/compare.ts';
import { goldenRequest, goldenRuns, goldenTensors, TINY_FLUX_A } from './support/golden.ts';

const work = mkdtempSync(join(tmpdir(), 'flux-attention-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Deterministic pseudo-random values in [−scale, scale). */
function randomValues(length: number, seed: number, scale = 0.2): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32 - 0.5) * 2 * scale;
  });
}

/** Random weights of any requested shape, the same for the same name. */
const randomWeights: WeightSource = {
  async read(name, shape) {
    let seed = 7;
    for (const ch of name) seed = Math.imul(seed ^ ch.charCodeAt(0), 16777619);
    return randomValues(shape.reduce((a, b) => a * b, 1), seed);
  },
};

function mhaNodes(modelPath: string): number {
  const model = onnxProto.onnx.ModelProto.decode(readFileSync(modelPath));
  return model.graph!.node!.filter((n) => n.opType === 'MultiHeadAttention').length;
}

/** Builds one shard of blocks (1 double + 1 single) with `headsPerGroup` into `name`.onnx. */
async function buildShard(config: TransformerConfig, name: string, headsPerGroup: number): Promise<string> {
  const data = await ExternalDataWriter.create(`${name}.onnx_data`, await openFileSink(join(work, `${name}.onnx_data`)));
  const g = new GraphBuilder(name, data);
  const ctx: LayerContext = { g, weights: randomWeights, precision: 'fp32' };
  await buildBlocks(ctx, config, { double: [0, 1], single: [0, 1], estimatedBytes: 0 }, { attentionHeadsPerGroup: headsPerGroup });
  await data.finish();
  const path = join(work, `${name}.onnx`);
  writeFileSync(path, g.encode());
  return path;
}

describe('attention head groups', () => {
  it('keeps one group of FLUX scores within 1 GiB up to 1440² (3 of 24 heads)', () => {
    const flux = validateTransformerConfig(FLUX_SCHNELL_TRANSFORMER, 'config.json');
    const perGroup = defaultAttentionHeadsPerGroup(flux);
    expect(perGroup).toBe(3);
    const tokens = (LIMITS.webSize.max / 16) ** 2 + 512;
    expect(perGroup * tokens * tokens * 4).toBeLessThanOrEqual(DEFAULTS.attentionScoresMaxBytes);
    expect(flux.num_attention_heads * tokens * tokens * 4).toBeGreaterThan(6 * 2 ** 30); // all heads at once: 6.9 GiB
    // Small models keep all heads in one node; the count always divides the heads.
    expect(attentionHeadsPerGroup(2, 8612, 2 ** 30)).toBe(2);
    expect(attentionHeadsPerGroup(24, 4352, 2 ** 30)).toBe(12); // 1024² needs 2 groups
    expect(attentionHeadsPerGroup(7, 100_000, 2 ** 30)).toBe(1);
  });

  it('gives the same block outputs with 1, 2, 3 or 6 heads per group as with one attention node', async () => {
    const config = validateTransformerConfig(
      { _class_name: 'FluxTransformer2DModel', in_channels: 64, num_layers: 1, num_single_layers: 1, attention_head_dim: 8, num_attention_heads: 6, joint_attention_dim: 32, pooled_projection_dim: 16, axes_dims_rope: [2, 2, 4], guidance_embeds: false },
      'config.json',
    );
    const d = 48;
    const [txtTokens, imgTokens] = [5, 24];
    const tokens = txtTokens + imgTokens;
    const angles = randomValues(tokens * 4, 99, 3);
    const feeds = {
      img: new ort.Tensor('float32', randomValues(imgTokens * d, 1, 1), [1, imgTokens, d]),
      txt: new ort.Tensor('float32', randomValues(txtTokens * d, 2, 1), [1, txtTokens, d]),
      temb: new ort.Tensor('float32', randomValues(d, 3, 1), [1, d]),
      rope_cos: new ort.Tensor('float32', angles.map(Math.cos), [tokens, 4]),
      rope_sin: new ort.Tensor('float32', angles.map(Math.sin), [tokens, 4]),
    };
    const outputs: Record<number, { img: Float32Array; txt: Float32Array }> = {};
    for (const group of [6, 3, 2, 1]) {
      const path = await buildShard(config, `blocks_g${group}`, group);
      expect(mhaNodes(path), `${group} heads per group`).toBe(2 * (6 / group));
      const session = await ort.InferenceSession.create(path);
      const out = await session.run(feeds);
      outputs[group] = { img: out.img_out.data as Float32Array, txt: out.txt_out.data as Float32Array };
      await session.release();
    }
    for (const group of [3, 2, 1]) {
      const img = relativeL2(outputs[group].img, outputs[6].img);
      const txt = relativeL2(outputs[group].txt, outputs[6].txt);
      console.log(`${group} heads per group vs one node: relative L2 img ${img.toExponential(2)}, txt ${txt.toExponential(2)}`);
      expect(img).toBeLessThan(1e-6);
      expect(txt).toBeLessThan(1e-6);
    }
  });

  it('keeps the golden tiny-flux-a pipeline within tolerance with one head per group, equal to the unchunked package', async () => {
    const pkg = join(work, 'golden');
    await convertCheckpoint({ checkpoint: TINY_FLUX_A, out: pkg, weights: 'fp32' });
    // The same package's block shards rebuilt with one head per group (tiny-flux-a has 2 heads).
    const transformer = await prepareTransformer(localCheckpointFiles(TINY_FLUX_A), 'transformer', 'fp32', 2 ** 30);
    const chunkedDir = mkdtempSync(join(work, 'chunked-'));
    // A sink straight into the folder (nothing to commit: these graphs are not a package).
    const sink: PackageSink = {
      create: (path) => openFileSink(join(chunkedDir, path)),
      remove: (path) => rm(join(chunkedDir, path), { force: true }),
      commit: async () => undefined,
      abort: async () => undefined,
      loadState: async () => null,
      saveState: async () => undefined,
      clear: async () => undefined,
    };
    const chunked = new Map<string, string>();
    try {
      for (const job of transformer.jobs.filter((j) => j.role === 'transformer-blocks')) {
        const blocks = job.extra!.blocks!;
        const written = await writeGraph({ ...job, build: (ctx) => buildBlocks(ctx, transformer.config, { ...blocks, estimatedBytes: 0 }, { attentionHeadsPerGroup: 1 }) }, sink, 'fp32', 2 ** 30);
        expect(mhaNodes(join(chunkedDir, written.entry.model))).toBe(2 * ((blocks.double[1] - blocks.double[0]) + (blocks.single[1] - blocks.single[0])));
        chunked.set(job.name, join(chunkedDir, written.entry.model));
      }
    } finally {
      await transformer.close();
    }
    const plain = openNodeRuntime(pkg);
    const sessions = new Map<string, Promise<GraphSession>>();
    const withChunkedBlocks: ModelRuntime = {
      manifest: plain.manifest,
      readJson: (path) => plain.readJson(path),
      session(graph) {
        const path = chunked.get(graph.name);
        if (!path) return plain.session(graph);
        if (!sessions.has(path)) sessions.set(path, ort.InferenceSession.create(path));
        return sessions.get(path)!;
      },
    };
    try {
      for (const run of goldenRuns()) {
        const golden = goldenTensors(run.name);
        const a = (await runFluxPipeline(withChunkedBlocks, goldenRequest(run))).intermediates!;
        const b = (await runFluxPipeline(plain, goldenRequest(run))).intermediates!;
        const t1 = relativeL2(a.transformer_out_t1, golden.get('transformer_out_t1')!.data as Float32Array);
        const final = relativeL2(a.final_packed_latents, golden.get('final_packed_latents')!.data as Float32Array);
        const same = relativeL2(a.final_packed_latents, b.final_packed_latents);
        console.log(`${run.name} with one head per group: transformer_out_t1 ${t1.toExponential(2)}, final latents ${final.toExponential(2)} vs diffusers; ${same.toExponential(2)} vs unchunked`);
        expect(t1).toBeLessThan(1e-3);
        expect(final).toBeLessThan(1e-3);
        expect(same).toBeLessThan(1e-6);
      }
    } finally {
      await plain.release();
      for (const s of sessions.values()) await (await s as unknown as ort.InferenceSession).release();
    }
  });
});
