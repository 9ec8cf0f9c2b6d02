/**
 * The converter end to end on real files: the package it writes (manifest, hashes,
 * graph signatures, quantized data), block sharding, bf16/f16 and sharded checkpoints,
 * every way a checkpoint can be wrong (and that nothing is left behind), and the CLI.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { decode as decodePng } from 'fast-png';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/defaults.ts';
import { CheckpointError } from '../src/errors.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../src/formats/float16.ts';
import { readSafetensors, writeSafetensors } from '../src/formats/safetensors.ts';
import { parseManifest, type GraphEntry, type Manifest, type WeightPrecision } from '../src/package/manifest.ts';
import type { PipelineResult } from '../src/pipeline/flux-pipeline.ts';
import { convertCheckpoint, type ConvertOptions } from '../tools/convert/convert-local.ts';
import { runCli, type CliResult } from './support/cli.ts';
import { copyWritable, generateRun0, listFiles, readComponent, sha256File, writeComponent, type Component } from './support/checkpoints.ts';
import { maxAbsDiff, percentileAbsDiff, relativeL2 } from './support/compare.ts';
import { goldenTensors, TINY_FLUX_A } from './support/golden.ts';

const { onnx } = onnxProto;
const MiB = 2 ** 20;

const work = mkdtempSync(join(tmpdir(), 'flux-convert-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let counter = 0;
/** A fresh empty folder under the work folder (so listing it shows exactly what a test left). */
function freshDir(label: string): string {
  const dir = join(work, `${String(counter++).padStart(2, '0')}-${label}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Converts into `<fresh>/pkg` and returns the folder and the manifest. */
async function convertTo(label: string, options: Omit<ConvertOptions, 'out'>): Promise<{ dir: string; manifest: Manifest }> {
  const dir = join(freshDir(label), 'pkg');
  return { dir, manifest: await convertCheckpoint({ ...options, out: dir }) };
}

/** One conversion of tiny-flux-a per precision, shared by the tests that only read it. */
const converted = new Map<WeightPrecision, Promise<{ dir: string; manifest: Manifest }>>();
function tiny(precision: WeightPrecision) {
  if (!converted.has(precision)) converted.set(precision, convertTo(`tiny-${precision}`, { checkpoint: TINY_FLUX_A, weights: precision }));
  return converted.get(precision)!;
}

const dataBytes = (dir: string, m: Manifest, filter: (g: GraphEntry) => boolean = () => true) =>
  m.graphs.filter(filter).reduce((sum, g) => sum + (g.data ? statSync(join(dir, g.data)).size : 0), 0);
const packageBytes = (dir: string) => listFiles(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
const isTransformer = (g: GraphEntry) => g.role.startsWith('transformer');

function expectSameImage(a: PipelineResult, b: PipelineResult): void {
  expect([a.image.width, a.image.height]).toEqual([b.image.width, b.image.height]);
  expect(Buffer.from(a.image.rgb).equals(Buffer.from(b.image.rgb))).toBe(true);
}

describe('package written for tiny-flux-a at q4', () => {
  let dir: string;
  let manifest: Manifest;
  beforeAll(async () => {
    ({ dir, manifest } = await tiny('q4'));
  }, 60_000);

  it('manifest.json on disk is the returned manifest and parses', () => {
    const onDisk = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(onDisk).toEqual(manifest);
    expect(() => parseManifest(onDisk)).not.toThrow();
    expect(manifest.weights).toBe('q4');
    expect(manifest.modelId).toBe('tiny-flux-a');
    expect(manifest.configs.transformer.num_layers).toBe(2);
    expect(manifest.configs.scheduler).toBeDefined();
  });

  it('lists every file with its size and sha256, and nothing else is in the folder', () => {
    const listed = manifest.files.map((f) => f.path);
    expect(new Set(listed).size).toBe(listed.length);
    for (const file of manifest.files) {
      const path = join(dir, file.path);
      expect(existsSync(path), file.path).toBe(true);
      expect(statSync(path).size, file.path).toBe(file.size);
      expect(sha256File(path), file.path).toBe(file.sha256);
    }
    expect(listFiles(dir)).toEqual([...listed, 'manifest.json'].sort());
    expect(readdirSync(dirname(dir))).toEqual(['pkg']); // no .partial-<pid> beside it
  });

  it('lists the sha256 of every 8 MiB chunk of every file (the weight store checks them as it writes)', () => {
    for (const file of manifest.files) {
      const bytes = readFileSync(join(dir, file.path));
      const count = Math.ceil(bytes.length / DEFAULTS.chunkHashBytes);
      const expected = Array.from({ length: count }, (_, i) => createHash('sha256').update(bytes.subarray(i * DEFAULTS.chunkHashBytes, (i + 1) * DEFAULTS.chunkHashBytes)).digest('hex'));
      expect(file.chunkSize, file.path).toBe(DEFAULTS.chunkHashBytes);
      expect(file.chunkSha256, file.path).toEqual(expected);
    }
  });

  it("lists every graph's model and data file", () => {
    const listed = new Set(manifest.files.map((f) => f.path));
    expect(manifest.graphs.length).toBe(5); // embed, 2 block shards (double, single), head, vae
    for (const g of manifest.graphs) {
      expect(listed.has(g.model), g.model).toBe(true);
      expect(g.data, g.name).not.toBeNull();
      expect(listed.has(g.data!), g.data!).toBe(true);
      expect(g.weightPrecision).toBe('q4');
      expect(g.computePrecision).toBe('fp32');
      expect(g.weightBytes).toBeGreaterThan(0);
    }
    // Every file belongs to a graph (no orphans besides the manifest itself).
    expect([...listed].sort()).toEqual(manifest.graphs.flatMap((g) => [g.model, g.data!]).sort());
  });

  it('states positive requirements with the largest buffer within the total', () => {
    const r = manifest.requirements;
    for (const key of ['totalWeightBytes', 'largestWeightBufferBytes', 'largestActivationBytesAt1024'] as const) {
      expect(Number.isInteger(r[key]), key).toBe(true);
      expect(r[key], key).toBeGreaterThan(0);
    }
    expect(r.largestWeightBufferBytes).toBeLessThanOrEqual(r.totalWeightBytes);
    expect(r.shaderF16).toBe(false);
    // Every stored weight byte is uploaded at least once.
    expect(r.totalWeightBytes).toBeGreaterThanOrEqual(manifest.graphs.reduce((s, g) => s + g.weightBytes, 0));
  });

  it('declares the inputs and outputs the pipeline feeds and reads', () => {
    const names = (role: string) => {
      const graphs = manifest.graphs.filter((g) => g.role === role);
      expect(graphs.length, role).toBeGreaterThan(0);
      return graphs.map((g) => ({ inputs: g.inputs.map((i) => i.name), outputs: g.outputs.map((o) => o.name) }));
    };
    expect(names('transformer-embed')).toEqual([
      { inputs: ['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep'], outputs: ['img', 'txt', 'temb'] },
    ]);
    for (const shard of names('transformer-blocks')) {
      expect(shard).toEqual({ inputs: ['img', 'txt', 'temb', 'rope_cos', 'rope_sin'], outputs: ['img_out', 'txt_out'] });
    }
    expect(names('transformer-head')).toEqual([{ inputs: ['img', 'temb'], outputs: ['noise_pred'] }]);
    expect(names('vae-decoder')).toEqual([{ inputs: ['latents'], outputs: ['image'] }]);
    for (const g of manifest.graphs) for (const v of [...g.inputs, ...g.outputs]) expect(v.type, `${g.name} ${v.name}`).toBe('float32');
    // The pipeline reads the text dims from the embed graph's fixed dimensions.
    const embed = manifest.graphs.find((g) => g.role === 'transformer-embed')!;
    expect(embed.inputs.find((i) => i.name === 'encoder_hidden_states')!.dims[2]).toBe(32);
    expect(embed.inputs.find((i) => i.name === 'pooled_projections')!.dims[1]).toBe(16);
    // Block shards cover every block once, doubles first.
    const shards = manifest.graphs.filter((g) => g.role === 'transformer-blocks');
    expect(shards.map((g) => g.blocks)).toEqual([
      { double: [0, 2], single: [0, 0] },
      { double: [0, 0], single: [0, 2] },
    ]);
  });

  it('stores transformer linears as 4-bit MatMulNBits weights in the data files', () => {
    let q4External = 0;
    for (const g of manifest.graphs) {
      const model = onnx.ModelProto.decode(readFileSync(join(dir, g.model)));
      const dataSize = statSync(join(dir, g.data!)).size;
      const initializers = new Map(model.graph!.initializer!.map((t) => [t.name!, t]));
      // Every external reference points into this graph's own data file, inside it.
      for (const t of initializers.values()) {
        if (!t.externalData?.length) continue;
        const ext = Object.fromEntries(t.externalData.map((e) => [e.key, e.value]));
        expect(ext.location, t.name!).toBe(basename(g.data!));
        expect(Number(ext.offset) + Number(ext.length), t.name!).toBeLessThanOrEqual(dataSize);
      }
      const nbits = model.graph!.node!.filter((n) => n.opType === 'MatMulNBits');
      if (isTransformer(g)) expect(nbits.length, g.name).toBeGreaterThan(0);
      expect(model.graph!.node!.some((n) => n.opType === 'MatMul'), `${g.name} has a float MatMul`).toBe(false);
      for (const node of nbits) {
        const bits = Number(node.attribute!.find((a) => a.name === 'bits')!.i);
        expect([4, 8]).toContain(bits);
        const weight = initializers.get(node.input![1])!;
        expect(weight.dataType).toBe(onnx.TensorProto.DataType.UINT8);
        if (bits === 4 && weight.externalData?.length) q4External++;
      }
      if (g.role === 'transformer-blocks') {
        const bits = nbits.map((n) => Number(n.attribute!.find((a) => a.name === 'bits')!.i));
        expect(bits.filter((b) => b === 4).length, g.name).toBeGreaterThan(bits.filter((b) => b === 8).length);
      }
    }
    expect(q4External).toBeGreaterThan(0);
  });

  it('is much smaller than the fp32 package', async () => {
    const fp32 = await tiny('fp32');
    for (const g of fp32.manifest.graphs) {
      const model = onnx.ModelProto.decode(readFileSync(join(fp32.dir, g.model)));
      expect(model.graph!.node!.some((n) => n.opType === 'MatMulNBits'), g.name).toBe(false);
    }
    const total = { q4: packageBytes(dir), fp32: packageBytes(fp32.dir) };
    const transformerData = { q4: dataBytes(dir, manifest, isTransformer), fp32: dataBytes(fp32.dir, fp32.manifest, isTransformer) };
    const upload = { q4: manifest.requirements.totalWeightBytes, fp32: fp32.manifest.requirements.totalWeightBytes };
    const ratio = (x: { q4: number; fp32: number }) => (x.fp32 / x.q4).toFixed(2);
    console.log(
      `fp32/q4 size ratio: whole package ${ratio(total)} (${total.fp32} / ${total.q4} B), ` +
        `transformer .onnx_data ${ratio(transformerData)} (${transformerData.fp32} / ${transformerData.q4} B), ` +
        `totalWeightBytes ${ratio(upload)}`,
    );
    // Tiny dims keep many small tensors inline in the .onnx files and the VAE's
    // convolutions are float16 (not 4-bit), so the whole package shrinks less than 8x.
    expect(transformerData.fp32 / transformerData.q4).toBeGreaterThan(5);
    expect(total.fp32 / total.q4).toBeGreaterThan(2);
    expect(upload.fp32 / upload.q4).toBeGreaterThan(2);
  });
});

describe('block sharding', () => {
  // At fp32 one double block of tiny-flux-a is ~148 KiB of data and the VAE decoder
  // ~195 KiB, so 0.2 MiB splits the two double blocks apart while every graph still fits.
  const maxShardMb = 0.2;
  let split: { dir: string; manifest: Manifest };
  beforeAll(async () => {
    split = await convertTo('split', { checkpoint: TINY_FLUX_A, weights: 'fp32', maxShardMb });
  }, 60_000);

  it('splits the blocks into more shards that cover every block once', async () => {
    const whole = await tiny('fp32');
    const shards = (m: Manifest) => m.graphs.filter((g) => g.role === 'transformer-blocks');
    expect(shards(whole.manifest).length).toBe(2);
    expect(shards(split.manifest).map((g) => [g.name, g.blocks])).toEqual([
      ['transformer_blocks_00_double_0-0', { double: [0, 1], single: [0, 0] }],
      ['transformer_blocks_01_double_1-1', { double: [1, 2], single: [0, 0] }],
      ['transformer_blocks_02_single_0-1', { double: [0, 0], single: [0, 2] }],
    ]);
  });

  it('keeps every .onnx_data file under the limit', () => {
    // No slack: the planner's estimate counts every block tensor at its stored size,
    // while the data file holds only the tensors of ≥1 KiB (plus ≤63 B alignment each).
    const sizes = split.manifest.graphs.map((g) => [g.data!, statSync(join(split.dir, g.data!)).size] as const);
    console.log('data files at --max-shard-mb 0.2:', Object.fromEntries(sizes));
    for (const [file, size] of sizes) expect(size, file).toBeLessThanOrEqual(maxShardMb * MiB);
  });

  it('generates the same image bytes and latents as the unsplit package', async () => {
    const [a, b] = [await generateRun0((await tiny('fp32')).dir), await generateRun0(split.dir)];
    expectSameImage(a, b);
    expect(maxAbsDiff(a.intermediates!.final_packed_latents, b.intermediates!.final_packed_latents)).toBe(0);
  }, 60_000);

  it('refuses a limit below one block, naming the block', async () => {
    const parent = freshDir('tiny-limit');
    const out = join(parent, 'pkg');
    const error = await convertCheckpoint({ checkpoint: TINY_FLUX_A, out, weights: 'fp32', maxShardMb: 0.01 }).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/double block 0/);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('refuses a limit below a graph that cannot be split (the VAE decoder) and leaves nothing', async () => {
    const parent = freshDir('vae-limit');
    const out = join(parent, 'pkg');
    // 0.16 MiB holds each fp32 block shard but not the ~195 KiB VAE decoder data.
    const error = await convertCheckpoint({ checkpoint: TINY_FLUX_A, out, weights: 'fp32', maxShardMb: 0.16 }).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/vae_decoder/);
    expect(error.message).toMatch(/max-shard-mb/);
    expect(readdirSync(parent)).toEqual([]);
  });
});

describe('checkpoints in bf16 / f16, numbered shards with an index', () => {
  let transformer: Component;
  let vae: Component;
  beforeAll(async () => {
    transformer = await readComponent(join(TINY_FLUX_A, 'transformer'));
    vae = await readComponent(join(TINY_FLUX_A, 'vae'));
  });

  const roundings = {
    BF16: (v: Float32Array) => v.map((x) => bf16ToF32(f32ToBf16(x))),
    F16: (v: Float32Array) => v.map((x) => f16ToF32(f32ToF16(x))),
  };

  for (const dtype of ['BF16', 'F16'] as const) {
    it(`${dtype} shards + index convert to the same package and image as F32 with the same values`, async () => {
      const round = roundings[dtype];
      const base = freshDir(`${dtype}`);
      const sharded = join(base, `ckpt-${dtype}`);
      const single = join(base, 'ckpt-f32');
      // ~100 KB shards: the 256 KB of bf16 transformer weights become 3+ numbered files.
      const a = writeComponent(join(sharded, 'transformer'), transformer, { dtype, maxShardBytes: 100_000 }, { map: round });
      const b = writeComponent(join(sharded, 'vae'), vae, { dtype, maxShardBytes: 100_000 }, { map: round });
      writeComponent(join(single, 'transformer'), transformer, { dtype: 'F32' }, { map: round });
      writeComponent(join(single, 'vae'), vae, { dtype: 'F32' }, { map: round });
      for (const [component, written] of [['transformer', a], ['vae', b]] as const) {
        expect(written.files.length, component).toBeGreaterThan(1);
        expect(basename(written.files[0])).toBe(`diffusion_pytorch_model-00001-of-${String(written.files.length).padStart(5, '0')}.safetensors`);
        const index = JSON.parse(readFileSync(join(sharded, component, 'diffusion_pytorch_model.safetensors.index.json'), 'utf8'));
        expect(new Set(Object.values(index.weight_map)).size).toBe(written.files.length);
        expect(existsSync(join(sharded, component, 'diffusion_pytorch_model.safetensors'))).toBe(false);
      }
      // Rounding changed the weights (otherwise the comparison proves nothing).
      const sample = transformer.values.get('proj_out.weight')!;
      expect(maxAbsDiff(round(sample), sample)).toBeGreaterThan(0);

      const out16 = join(base, 'pkg-sharded');
      const out32 = join(base, 'pkg-single');
      const m16 = await convertCheckpoint({ checkpoint: sharded, out: out16, weights: 'fp32' });
      const m32 = await convertCheckpoint({ checkpoint: single, out: out32, weights: 'fp32' });
      // Same float32 values in → byte-identical graphs and data files out.
      expect(m16.files).toEqual(m32.files);

      const [r16, r32] = [await generateRun0(out16), await generateRun0(out32)];
      expectSameImage(r16, r32);
      expect(maxAbsDiff(r16.intermediates!.final_packed_latents, r32.intermediates!.final_packed_latents)).toBe(0);
      // And rounding the weights still gives a sensible image close to the golden one.
      const golden = goldenTensors('run0');
      const p99 = percentileAbsDiff(r16.image.rgb, golden.get('image_uint8')!.data as Uint8Array, 99);
      console.log(`${dtype}-rounded weights: image p99 |diff| vs golden ${p99} levels`);
      expect(p99).toBeLessThanOrEqual(dtype === 'BF16' ? 16 : 4);
    }, 60_000);
  }
});

describe('bad checkpoints fail before anything is written', () => {
  let transformer: Component;
  beforeAll(async () => {
    transformer = await readComponent(join(TINY_FLUX_A, 'transformer'));
  });

  /** A writable copy of tiny-flux-a in a fresh folder, with `out` beside it. */
  function prepare(label: string) {
    const parent = freshDir(label);
    const checkpoint = copyWritable(TINY_FLUX_A, join(parent, 'ckpt'));
    return { parent, checkpoint, out: join(parent, 'pkg'), t: join(checkpoint, 'transformer') };
  }

  /** Converts, expects a CheckpointError, and that neither `out` nor a partial folder exists. */
  async function expectFailure(c: { parent: string; checkpoint: string; out: string }, options: Partial<ConvertOptions> = {}): Promise<CheckpointError & { logged: string[] }> {
    const logged: string[] = [];
    const error = await convertCheckpoint({ checkpoint: c.checkpoint, out: c.out, log: (l) => logged.push(l), ...options }).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(existsSync(c.out)).toBe(false);
    expect(readdirSync(c.parent)).toEqual(['ckpt']);
    return Object.assign(error, { logged });
  }

  it('missing transformer/config.json', async () => {
    const c = prepare('no-config');
    rmSync(join(c.t, 'config.json'));
    const error = await expectFailure(c);
    expect(error.file).toBe(join(c.t, 'config.json'));
    expect(error.message).toContain(join(c.t, 'config.json'));
  });

  it('missing vae folder', async () => {
    const c = prepare('no-vae');
    rmSync(join(c.checkpoint, 'vae'), { recursive: true });
    const error = await expectFailure(c);
    expect(error.message).toContain(join(c.checkpoint, 'vae'));
    expect(error.file).toContain(join(c.checkpoint, 'vae'));
  });

  it('guidance_embeds: true (FLUX.1 [dev]) without the guidance embedder, or not a boolean', async () => {
    // [dev] checkpoints convert (test/golden-dev.test.ts); one that says so but lacks the tensors does not.
    const c = prepare('guidance');
    writeFileSync(join(c.t, 'config.json'), JSON.stringify({ ...transformer.config, guidance_embeds: true }));
    const error = await expectFailure(c);
    expect(error.tensor).toBe('time_text_embed.guidance_embedder.linear_1.weight');
    expect(error.message).toContain(c.t);
    const d = prepare('guidance-type');
    writeFileSync(join(d.t, 'config.json'), JSON.stringify({ ...transformer.config, guidance_embeds: 'yes' }));
    const typeError = await expectFailure(d);
    expect(typeError.message).toContain('guidance_embeds');
    expect(typeError.file).toBe(join(d.t, 'config.json'));
  });

  it('a scheduler this code cannot follow (static shift, Karras sigmas)', async () => {
    for (const [label, edit, field] of [['shift', { shift: 3 }, 'shift'], ['karras', { use_karras_sigmas: true }, 'use_karras_sigmas']] as const) {
      const c = prepare(`scheduler-${label}`);
      const path = join(c.checkpoint, 'scheduler', 'scheduler_config.json');
      writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), ...edit }));
      const error = await expectFailure(c);
      expect(error.file).toBe(path);
      expect(error.tensor).toBe(field);
      expect(error.message).toContain(`"${field}"`);
    }
  });

  it('a missing tensor', async () => {
    const c = prepare('missing-tensor');
    writeComponent(c.t, transformer, {}, { drop: ['single_transformer_blocks.1.proj_out.bias'] });
    const error = await expectFailure(c);
    expect(error.tensor).toBe('single_transformer_blocks.1.proj_out.bias');
    expect(error.message).toContain('single_transformer_blocks.1.proj_out.bias');
    expect(error.message).toContain(c.t);
    expect(error.logged).toEqual([]); // nothing was built
  });

  it('an unexpected extra tensor', async () => {
    const c = prepare('extra-tensor');
    writeComponent(c.t, transformer, {}, { put: { 'transformer_blocks.0.attn.to_extra.weight': [32, 32] } });
    const error = await expectFailure(c);
    expect(error.tensor).toBe('transformer_blocks.0.attn.to_extra.weight');
    expect(error.file).toBe(join(c.t, 'diffusion_pytorch_model.safetensors'));
    expect(error.message).toContain('transformer_blocks.0.attn.to_extra.weight');
    expect(error.message).toContain(error.file!);
  });

  it('a wrong shape', async () => {
    const c = prepare('wrong-shape');
    writeComponent(c.t, transformer, {}, { put: { 'transformer_blocks.1.ff.net.2.weight': [32, 64] } });
    const error = await expectFailure(c);
    expect(error.tensor).toBe('transformer_blocks.1.ff.net.2.weight');
    expect(error.file).toBe(join(c.t, 'diffusion_pytorch_model.safetensors'));
    expect(error.message).toContain('transformer_blocks.1.ff.net.2.weight');
    expect(error.message).toContain('[32,64]');
    expect(error.message).toContain('[32,128]');
  });

  it('a tensor stored as a non-float dtype', async () => {
    const c = prepare('int-dtype');
    // Rewrite the single file with one tensor as I32 of the right shape.
    const path = join(c.t, 'diffusion_pytorch_model.safetensors');
    const tensors = Object.fromEntries(
      transformer.tensors.map(([name, shape]) => [name, { dtype: 'F32' as const, shape, data: transformer.values.get(name)! }]),
    );
    tensors['proj_out.bias'] = { dtype: 'I32' as never, shape: [64], data: new Int32Array(64) as never };
    writeFileSync(path, writeSafetensors(tensors));
    const error = await expectFailure(c);
    expect(error.tensor).toBe('proj_out.bias');
    expect(error.file).toBe(path);
    expect(error.message).toContain('proj_out.bias');
    expect(error.message).toContain('I32');
    expect(error.logged).toEqual([]); // caught by the checks, before any graph is built
  });

  it('an index.json naming a shard file that does not exist', async () => {
    const c = prepare('missing-shard');
    rmSync(join(c.t, 'diffusion_pytorch_model.safetensors'));
    writeComponent(c.t, transformer, { maxShardBytes: 200_000 });
    const indexPath = join(c.t, 'diffusion_pytorch_model.safetensors.index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8'));
    index.weight_map['proj_out.weight'] = 'diffusion_pytorch_model-00009-of-00009.safetensors';
    writeFileSync(indexPath, JSON.stringify(index));
    const error = await expectFailure(c);
    const missing = join(c.t, 'diffusion_pytorch_model-00009-of-00009.safetensors');
    expect(error.file).toBe(missing);
    expect(error.message).toContain(missing);
    expect(error.message).toContain(indexPath);
  });

  it('a truncated safetensors file', async () => {
    const c = prepare('truncated');
    const path = join(c.t, 'diffusion_pytorch_model.safetensors');
    truncateSync(path, statSync(path).size - 1000);
    const error = await expectFailure(c);
    expect(error.file).toBe(path);
    expect(error.message).toContain(path);
    expect(error.message).toMatch(/truncated|beyond|past|end/i);
  });

  it('a non-empty existing output folder without force; force replaces it', async () => {
    const parent = freshDir('existing');
    const out = join(parent, 'pkg');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'mine');
    const error = await convertCheckpoint({ checkpoint: TINY_FLUX_A, out, weights: 'fp32' }).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toContain(out);
    expect(error.message).toMatch(/force/);
    expect(readFileSync(join(out, 'keep.txt'), 'utf8')).toBe('mine');
    expect(readdirSync(parent)).toEqual(['pkg']);

    const manifest = await convertCheckpoint({ checkpoint: TINY_FLUX_A, out, weights: 'fp32', force: true });
    expect(listFiles(out)).toEqual([...manifest.files.map((f) => f.path), 'manifest.json'].sort());
    expect(readdirSync(parent)).toEqual(['pkg']);
  });

  it('an existing file at the output path without force; force replaces it', async () => {
    const parent = freshDir('out-is-file');
    const out = join(parent, 'pkg');
    writeFileSync(out, 'not a folder');
    const error = await convertCheckpoint({ checkpoint: TINY_FLUX_A, out, weights: 'fp32' }).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toContain(out);
    expect(error.message).toMatch(/force/);
    expect(readFileSync(out, 'utf8')).toBe('not a folder');
    expect(readdirSync(parent)).toEqual(['pkg']);
    await convertCheckpoint({ checkpoint: TINY_FLUX_A, out, weights: 'fp32', force: true });
    expect(existsSync(join(out, 'manifest.json'))).toBe(true);
  });

  it('an empty existing output folder is used without force', async () => {
    const parent = freshDir('empty-out');
    const out = join(parent, 'pkg');
    mkdirSync(out);
    await convertCheckpoint({ checkpoint: TINY_FLUX_A, out, weights: 'q8' });
    expect(existsSync(join(out, 'manifest.json'))).toBe(true);
    expect(readdirSync(parent)).toEqual(['pkg']);
  });
});

describe('a failure midway through building', () => {
  // The reader checks tensor ends against the file size at open time, so a truncated
  // file is caught before any graph is built. To fail *during* the build, the file is
  // truncated after it was opened: from the log callback, right after the embed graph.
  function truncateAfterEmbed(path: string) {
    return (line: string) => {
      if (line.startsWith('  transformer_embed:')) truncateSync(path, 4096);
    };
  }

  it('names the file and tensor and leaves no package and no partial folder', async () => {
    const parent = freshDir('midway');
    const checkpoint = copyWritable(TINY_FLUX_A, join(parent, 'ckpt'));
    const file = join(checkpoint, 'transformer', 'diffusion_pytorch_model.safetensors');
    const out = join(parent, 'pkg');
    const error = await convertCheckpoint({ checkpoint, out, weights: 'q4', log: truncateAfterEmbed(file) }).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.file).toBe(file);
    expect(error.tensor).toMatch(/^transformer_blocks\.0\./);
    expect(error.message).toContain(file);
    expect(error.message).toContain(error.tensor);
    expect(readdirSync(parent)).toEqual(['ckpt']);
  });

  it('with force, keeps the existing package intact', async () => {
    const parent = freshDir('midway-force');
    const checkpoint = copyWritable(TINY_FLUX_A, join(parent, 'ckpt'));
    const out = join(parent, 'pkg');
    const old = await convertCheckpoint({ checkpoint, out, weights: 'q8' });
    const file = join(checkpoint, 'transformer', 'diffusion_pytorch_model.safetensors');
    const error = await convertCheckpoint({ checkpoint, out, weights: 'fp32', force: true, log: truncateAfterEmbed(file) }).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.file).toBe(file);
    // The old q8 package is still there, complete and unchanged.
    expect(readdirSync(parent).sort()).toEqual(['ckpt', 'pkg']);
    expect(listFiles(out)).toEqual([...old.files.map((f) => f.path), 'manifest.json'].sort());
    expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'))).toEqual(old);
    for (const f of old.files) expect(sha256File(join(out, f.path)), f.path).toBe(f.sha256);
  });
});

describe('CLI (node tools/flux-webgpu.mjs)', () => {
  type Result = CliResult;
  const cli = (...args: string[]) => runCli(args);

  let dir: string;
  let pkg: string;
  let embeds: string;
  const results = new Map<string, Result>();
  const usageCases: [label: string, flag: string, args: string[]][] = [];

  beforeAll(async () => {
    dir = freshDir('cli');
    pkg = join(dir, 'pkg');
    embeds = join(dir, 'embeds.safetensors');
    const golden = goldenTensors('run0');
    const tensor = (key: string) => {
      const t = golden.get(key)!;
      return { dtype: 'F32' as const, shape: t.shape, data: t.data };
    };
    writeFileSync(embeds, writeSafetensors({ prompt_embeds: tensor('prompt_embeds'), pooled_prompt_embeds: tensor('pooled_prompt_embeds') }));

    const generateArgs = (out: string, ...extra: string[]) => ['generate', '--model', pkg, '--prompt-embeds', embeds, '--out', join(dir, out), ...extra];
    const gen = (...extra: string[]) => generateArgs('bad.png', ...extra);
    usageCases.push(
      ['width not a multiple of 16', '--width', gen('--width', '100')],
      ['width too large', '--width', gen('--width', '4096')],
      ['steps 0', '--steps', gen('--steps', '0')],
      ['steps 51', '--steps', gen('--steps', '51')],
      ['seed -1', '--seed', gen('--seed=-1')],
      ['seed -1 (separate argument)', '--seed', gen('--seed', '-1')],
      ['seed 2^32', '--seed', gen('--seed', '4294967296')],
      ['seed abc', '--seed', gen('--seed', 'abc')],
      ['weights q3', '--weights', ['convert', '--checkpoint', TINY_FLUX_A, '--out', join(dir, 'never'), '--weights', 'q3']],
      ['unknown flag', '--frobnicate', gen('--frobnicate', '1')],
    );
    // Everything that does not need the package runs alongside its conversion.
    const first = await Promise.all([
      cli('convert', '--checkpoint', TINY_FLUX_A, '--out', pkg, '--weights', 'fp32'),
      cli('noise', '--seed', '42', '--shape', '1,16,8,8', '--out', join(dir, 'n.safetensors')),
      ...usageCases.map(([, , args]) => cli(...args)),
    ]);
    results.set('convert', first[0]);
    results.set('noise', first[1]);
    usageCases.forEach(([label], i) => results.set(label, first[2 + i]));
    const second = await Promise.all([
      cli(...generateArgs('x.png', '--width', '64', '--height', '64', '--steps', '4', '--seed', '42', '--dump', join(dir, 'd.safetensors'))),
      cli(...generateArgs('warn.png', '--width', '16', '--height', '16', '--steps', '8')),
    ]);
    results.set('generate', second[0]);
    results.set('random seed', second[1]);
  }, 60_000);

  it('convert writes a package', () => {
    const r = results.get('convert')!;
    expect(r.code, r.stderr).toBe(0);
    const manifest = parseManifest(JSON.parse(readFileSync(join(pkg, 'manifest.json'), 'utf8')));
    expect(manifest.weights).toBe('fp32');
    expect(r.stdout).toMatch(/wrote \d+ files/);
    expect(readdirSync(dir).filter((n) => n.includes('.partial-'))).toEqual([]);
  });

  it('generate reproduces golden run0 and dumps its tensors', () => {
    const r = results.get('generate')!;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\bseed 42\b/);
    const dump = readSafetensors(readFileSync(join(dir, 'd.safetensors')));
    const golden = goldenTensors('run0');
    const expected: Record<string, [string, number[]]> = {
      noise: ['F32', [1, 16, 8, 8]],
      final_packed_latents: ['F32', [1, 16, 64]],
      vae_out: ['F32', [1, 3, 64, 64]],
      image_uint8: ['U8', [1, 64, 64, 3]],
    };
    for (const [key, [dtype, shape]] of Object.entries(expected)) {
      expect(dump.get(key)?.dtype, key).toBe(dtype);
      expect(dump.get(key)!.shape, key).toEqual(shape);
    }
    const f32 = (m: typeof dump, key: string) => m.get(key)!.data as Float32Array;
    const report = {
      noise: maxAbsDiff(f32(dump, 'noise'), f32(golden, 'noise')),
      final_packed_latents: relativeL2(f32(dump, 'final_packed_latents'), f32(golden, 'final_packed_latents')),
      vae_out: relativeL2(f32(dump, 'vae_out'), f32(golden, 'vae_out')),
      image_p99: percentileAbsDiff(dump.get('image_uint8')!.data as Uint8Array, golden.get('image_uint8')!.data as Uint8Array, 99),
    };
    console.log('CLI generate vs golden run0', report);
    expect(report.noise).toBeLessThan(1e-5);
    expect(report.final_packed_latents).toBeLessThan(1e-3);
    expect(report.vae_out).toBeLessThan(1e-3);
    expect(report.image_p99).toBeLessThanOrEqual(2);

    const png = readFileSync(join(dir, 'x.png'));
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const decoded = decodePng(png);
    expect([decoded.width, decoded.height, decoded.depth]).toEqual([64, 64, 8]);
    const rgb = dump.get('image_uint8')!.data as Uint8Array;
    if (decoded.channels === 3) expect(Buffer.from(decoded.data as Uint8Array).equals(Buffer.from(rgb))).toBe(true);
    else {
      expect(decoded.channels).toBe(4);
      const data = decoded.data as Uint8Array;
      for (let i = 0; i < 64 * 64; i++) expect([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]]).toEqual([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255]);
    }
  });

  it('prints a random seed without --seed and warns about more than 4 steps', () => {
    const r = results.get('random seed')!;
    expect(r.code, r.stderr).toBe(0);
    const seed = Number(/\bseed (\d+)/.exec(r.stdout)?.[1]);
    expect(Number.isInteger(seed) && seed >= 0 && seed <= 4294967295, r.stdout).toBe(true);
    expect(r.stderr).toMatch(/warning/i);
    expect(r.stderr).toMatch(/\b8 steps\b/);
    expect(existsSync(join(dir, 'warn.png'))).toBe(true);
  });

  it('exits with 2 and names the flag for bad usage', () => {
    for (const [label, flag] of usageCases) {
      const r = results.get(label)!;
      expect(r.code, `${label}: ${r.stderr}`).toBe(2);
      expect(r.stderr, label).toContain(flag);
      expect(r.stdout, label).not.toMatch(/^seed \d+/m); // nothing was generated
    }
    expect(existsSync(join(dir, 'bad.png'))).toBe(false);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('noise --seed 42 equals golden run0 noise', () => {
    const r = results.get('noise')!;
    expect(r.code, r.stderr).toBe(0);
    const noise = readSafetensors(readFileSync(join(dir, 'n.safetensors'))).get('noise')!;
    expect(noise.dtype).toBe('F32');
    expect(noise.shape).toEqual([1, 16, 8, 8]);
    expect(maxAbsDiff(noise.data as Float32Array, goldenTensors('run0').get('noise')!.data as Float32Array)).toBeLessThan(1e-5);
  });
});
