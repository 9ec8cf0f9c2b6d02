/**
 * The converter's other sources, from local files: the original BFL single files
 * (transformer and `ae.safetensors`) and GGUF files (the transformer in BFL names, T5 in
 * llama.cpp names), given as overrides of a checkpoint that holds only configs. The
 * test files are written from the golden tiny-flux-a weights (and the demo model's T5)
 * by the inverse of the published conversions. F32 sources must give the same package
 * data as the diffusers layout, hence the golden outputs; Q4_0 / Q8_0 sources must be
 * stored exactly, other quantizations requantized with a warning.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../src/errors.ts';
import type { Manifest, PackageFile } from '../src/package/manifest.ts';
import { openFileSink } from '../tools/convert/folder-sink.ts';
import { convertCheckpoint, type ConvertOptions } from '../tools/convert/convert-local.ts';
import { writeDemoCheckpoint } from '../tools/demo/demo-model.ts';
import { runCli } from './support/cli.ts';
import { generateRun0 } from './support/checkpoints.ts';
import { maxAbsDiff, percentileAbsDiff, relativeL2 } from './support/compare.ts';
import { goldenTensors, TINY_FLUX_A } from './support/golden.ts';
import { writeGguf, type GgufTensorToWrite, type GgufWriteType } from './support/gguf-writer.ts';
import { storedLinears } from './support/package-weights.ts';
import { readNamed, safetensorsOf, toBflTransformer, toLdmVae, toLlamaT5, type NamedTensors } from './support/source-layouts.ts';
import { StorageQuotaError } from '../src/errors.ts';

const work = mkdtempSync(join(tmpdir(), 'flux-sources-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** GGUF tensors from named float tensors; `typeOf` picks each one's storage type. */
function ggufTensors(tensors: NamedTensors, typeOf: (name: string, shape: number[]) => GgufWriteType): GgufTensorToWrite[] {
  return [...tensors].map(([name, t]) => ({ name, shape: t.shape, values: t.values, type: typeOf(name, t.shape) }));
}

/** Quantizable as 32-blocks: a matrix whose rows are whole blocks. */
const blockable = (shape: number[]) => shape.length === 2 && shape[1] % 32 === 0;

const convert = async (label: string, options: Omit<ConvertOptions, 'out'>) => {
  const out = join(work, label);
  const logged: string[] = [];
  const manifest = await convertCheckpoint({ ...options, out, log: (l) => logged.push(l) });
  return { out, manifest, logged };
};

const dataFiles = (m: Manifest, prefix: string): PackageFile[] => m.files.filter((f) => f.path.startsWith(prefix) && f.path.endsWith('.onnx_data'));

let configsOnly: string;
let transformer: NamedTensors;
let vae: NamedTensors;
let reference: { out: string; manifest: Manifest };

beforeAll(async () => {
  transformer = await readNamed(join(TINY_FLUX_A, 'transformer'));
  vae = await readNamed(join(TINY_FLUX_A, 'vae'));
  // A checkpoint with configs only: every weight comes from the overrides.
  configsOnly = join(work, 'configs-only');
  for (const part of ['transformer/config.json', 'vae/config.json', 'scheduler/scheduler_config.json']) {
    mkdirSync(join(configsOnly, part, '..'), { recursive: true });
    cpSync(join(TINY_FLUX_A, part), join(configsOnly, part));
  }
  writeFileSync(join(work, 'flux1-tiny.safetensors'), safetensorsOf(toBflTransformer(transformer, 2, 2)));
  const ae = toLdmVae(vae, 4);
  ae.set('encoder.conv_in.weight', { shape: [8, 3, 3, 3], values: new Float32Array(8 * 27) }); // the encoder is in the file and ignored
  writeFileSync(join(work, 'ae.safetensors'), safetensorsOf(ae));
  reference = await convert('reference-fp32', { checkpoint: TINY_FLUX_A, weights: 'fp32', modelId: 'tiny' });
}, 60_000);

describe('BFL single files (flux1-*.safetensors, ae.safetensors)', () => {
  let bfl: { out: string; manifest: Manifest };
  beforeAll(async () => {
    bfl = await convert('bfl-fp32', { checkpoint: configsOnly, transformer: join(work, 'flux1-tiny.safetensors'), vae: join(work, 'ae.safetensors'), weights: 'fp32', modelId: 'tiny' });
  }, 60_000);

  it('give the same graphs and data files as the diffusers layout', () => {
    expect(bfl.manifest.files).toEqual(reference.manifest.files);
    expect(bfl.manifest.graphs).toEqual(reference.manifest.graphs);
  });

  it('reproduce golden run0 (fp32)', async () => {
    const result = await generateRun0(bfl.out);
    const golden = goldenTensors('run0');
    const g = (key: string) => golden.get(key)!.data as Float32Array;
    expect(relativeL2(result.intermediates!.transformer_out_t1, g('transformer_out_t1'))).toBeLessThan(1e-3);
    expect(relativeL2(result.intermediates!.final_packed_latents, g('final_packed_latents'))).toBeLessThan(1e-3);
    expect(relativeL2(result.intermediates!.vae_out, g('vae_out'))).toBeLessThan(1e-3);
    expect(percentileAbsDiff(result.image.rgb, golden.get('image_uint8')!.data as Uint8Array, 99)).toBeLessThanOrEqual(2);
  }, 60_000);

  it('refuse a file that is not a FLUX transformer, naming it', async () => {
    const error = await convert('bfl-wrong', { checkpoint: configsOnly, transformer: join(work, 'ae.safetensors'), weights: 'fp32' }).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toContain(join(work, 'ae.safetensors'));
    expect(error.message).toMatch(/not a FLUX transformer/);
  });
});

describe('GGUF transformer (BFL names)', () => {
  const bfl = () => toBflTransformer(transformer, 2, 2);
  let q: { out: string; manifest: Manifest; logged: string[] };
  let dequantizedFp32: { out: string; manifest: Manifest };

  beforeAll(async () => {
    // Q4_0 and Q8_0 by turns, one Q4_1 (requantized with a warning), F16 for a small one, F32 for vectors.
    let turn = 0;
    const typeOf = (name: string, shape: number[]): GgufWriteType => {
      if (!blockable(shape)) return shape.length === 2 ? 'F16' : 'F32';
      if (name === 'double_blocks.1.img_mlp.2.weight') return 'Q4_1';
      return turn++ % 2 === 0 ? 'Q4_0' : 'Q8_0';
    };
    const meta = { 'general.architecture': { type: 'string' as const, value: 'flux' } };
    const dequantized = writeGguf(join(work, 'flux1-tiny-Q.gguf'), meta, ggufTensors(bfl(), typeOf)).values;
    writeGguf(join(work, 'flux1-tiny-F32.gguf'), meta, ggufTensors(bfl(), () => 'F32'));
    // The same values as plain F32: its fp32 package holds the dequantized weights unchanged.
    const exact = bfl();
    for (const [name, t] of exact) exact.set(name, { shape: t.shape, values: dequantized.get(name)! });
    writeGguf(join(work, 'flux1-tiny-dequantized.gguf'), meta, ggufTensors(exact, () => 'F32'));
    q = await convert('gguf-q4', { checkpoint: configsOnly, transformer: join(work, 'flux1-tiny-Q.gguf'), vae: join(work, 'ae.safetensors'), weights: 'q4' });
    dequantizedFp32 = await convert('gguf-dequantized-fp32', { checkpoint: configsOnly, transformer: join(work, 'flux1-tiny-dequantized.gguf'), vae: join(work, 'ae.safetensors'), weights: 'fp32' });
  }, 60_000);

  it('F32: the same data files as the diffusers layout, so the golden outputs', async () => {
    const f32 = await convert('gguf-f32', { checkpoint: configsOnly, transformer: join(work, 'flux1-tiny-F32.gguf'), vae: join(work, 'ae.safetensors'), weights: 'fp32', modelId: 'tiny' });
    expect(dataFiles(f32.manifest, 'transformer')).toEqual(dataFiles(reference.manifest, 'transformer'));
    const result = await generateRun0(f32.out);
    const golden = goldenTensors('run0');
    expect(relativeL2(result.intermediates!.final_packed_latents, golden.get('final_packed_latents')!.data as Float32Array)).toBeLessThan(1e-3);
    expect(percentileAbsDiff(result.image.rgb, golden.get('image_uint8')!.data as Uint8Array, 99)).toBeLessThanOrEqual(2);
  }, 60_000);

  it('Q4_0 / Q8_0: MatMulNBits holds exactly the dequantized GGUF values (4-bit, 8-bit, 8-bit modulations)', () => {
    const stored = storedLinears(q.out, q.manifest);
    const exact = storedLinears(dequantizedFp32.out, dequantizedFp32.manifest);
    // Sources that are not Q4_0/Q8_0: the Q4_1 one and the F16 one (its rows of 16 are not whole blocks).
    const requantized = ['transformer_blocks.1.ff.net.2', 'time_text_embed.text_embedder.linear_1'];
    let compared = 0;
    const bitsSeen = new Set<number>();
    for (const [prefix, s] of stored) {
      if (!prefix.startsWith('transformer_blocks') && !prefix.startsWith('single_') && !/^(x_embedder|context_embedder|proj_out|norm_out|time_text)/.test(prefix)) continue;
      if (requantized.includes(prefix) || s.bits > 8) continue;
      const e = exact.get(prefix)!;
      expect([e.bits, e.n, e.k], prefix).toEqual([32, s.n, s.k]);
      expect(maxAbsDiff(s.values, e.values), prefix).toBe(0);
      bitsSeen.add(s.bits);
      compared++;
    }
    console.log(`GGUF Q4_0/Q8_0: ${compared} linears compared exactly; bits used ${[...bitsSeen]}`);
    expect(compared).toBeGreaterThan(30);
    expect([...bitsSeen].sort()).toEqual([4, 8]);
    // Modulations stay at 8 bits: Q4_0 sources widened exactly.
    expect(stored.get('transformer_blocks.0.norm1.linear')!.bits).toBe(8);
    expect(stored.get('norm_out.linear')!.bits).toBe(8);
  });

  it('other quantizations are requantized, with a warning naming them', () => {
    const warnings = q.logged.filter((l) => l.startsWith('warning:'));
    expect(warnings.join('\n')).toMatch(/Q4_1/);
    expect(warnings.join('\n')).toMatch(/requantized/);
    const stored = storedLinears(q.out, q.manifest).get('transformer_blocks.1.ff.net.2')!;
    const exact = storedLinears(dequantizedFp32.out, dequantizedFp32.manifest).get('transformer_blocks.1.ff.net.2')!;
    expect(stored.bits).toBe(4);
    expect(maxAbsDiff(stored.values, exact.values)).toBeGreaterThan(0);
    expect(relativeL2(stored.values, exact.values)).toBeLessThan(0.2);
  });

  it('the Q package generates (quality figure, not equality)', async () => {
    const result = await generateRun0(q.out);
    const golden = goldenTensors('run0');
    const latents = relativeL2(result.intermediates!.final_packed_latents, golden.get('final_packed_latents')!.data as Float32Array);
    console.log(`GGUF Q4_0/Q8_0 transformer: final latents rel L2 vs golden fp32 ${latents.toExponential(3)}`);
    expect(latents).toBeLessThan(0.3);
  }, 60_000);

  it('refuses a GGUF of another architecture and an unreadable quant type, naming file and fix', async () => {
    writeGguf(join(work, 'llama.gguf'), { 'general.architecture': { type: 'string', value: 'llama' } }, ggufTensors(bfl(), () => 'F32'));
    const arch = await convert('gguf-arch', { checkpoint: configsOnly, transformer: join(work, 'llama.gguf') }).catch((e) => e);
    expect(arch).toBeInstanceOf(CheckpointError);
    expect(arch.message).toContain(join(work, 'llama.gguf'));
    expect(arch.message).toMatch(/architecture "llama"/);

    // IQ4_XS (ggml type 23): 136 bytes per 256 values.
    const iq = ggufTensors(bfl(), () => 'F32').map((t) => (t.name === 'double_blocks.0.img_mlp.0.weight' ? { ...t, raw: { typeId: 23, bytes: new Uint8Array((t.values.length / 256) * 136) } } : t));
    writeGguf(join(work, 'iq.gguf'), { 'general.architecture': { type: 'string', value: 'flux' } }, iq);
    const quant = await convert('gguf-iq', { checkpoint: configsOnly, transformer: join(work, 'iq.gguf') }).catch((e) => e);
    expect(quant).toBeInstanceOf(CheckpointError);
    expect(quant.message).toContain('IQ4_XS');
    expect(quant.message).toMatch(/supported are/);
    expect(quant.message).toContain('double_blocks.0.img_mlp.0.weight');
    expect(quant.tensor).toBe('transformer_blocks.0.ff.net.0.proj.weight');
  });
});

describe('T5 from a GGUF in llama.cpp names (--text-encoder-2)', () => {
  let demo: string;
  let reference: { manifest: Manifest };
  let q: { out: string; manifest: Manifest };
  let exactFp32: { out: string; manifest: Manifest };

  beforeAll(async () => {
    demo = join(work, 'demo-checkpoint');
    writeDemoCheckpoint(demo);
    const t5 = toLlamaT5(await readNamed(join(demo, 'text_encoder_2'), 'model'));
    const meta = { 'general.architecture': { type: 'string' as const, value: 't5encoder' } };
    writeGguf(join(work, 't5-F32.gguf'), meta, ggufTensors(t5, () => 'F32'));
    let turn = 0;
    const dequantized = writeGguf(join(work, 't5-Q.gguf'), meta, ggufTensors(t5, (name, shape) => (blockable(shape) ? (turn++ % 2 ? 'Q4_0' : 'Q8_0') : 'F32'))).values;
    for (const [name, t] of t5) t5.set(name, { shape: t.shape, values: dequantized.get(name)! });
    writeGguf(join(work, 't5-dequantized.gguf'), meta, ggufTensors(t5, () => 'F32'));
    reference = await convert('t5-reference', { checkpoint: demo, weights: 'fp32' });
    q = await convert('t5-q', { checkpoint: demo, textEncoder2: join(work, 't5-Q.gguf'), weights: 'q4' });
    exactFp32 = await convert('t5-dequantized', { checkpoint: demo, textEncoder2: join(work, 't5-dequantized.gguf'), weights: 'fp32' });
  }, 60_000);

  it('F32: the same T5 graphs and data as the diffusers text_encoder_2', async () => {
    const f32 = await convert('t5-f32', { checkpoint: demo, textEncoder2: join(work, 't5-F32.gguf'), weights: 'fp32' });
    expect(f32.manifest.files).toEqual(reference.manifest.files);
  });

  it('Q4_0 / Q8_0 T5 linears hold exactly the dequantized values', () => {
    const stored = storedLinears(q.out, q.manifest);
    const exact = storedLinears(exactFp32.out, exactFp32.manifest);
    const t5 = [...stored].filter(([prefix]) => prefix.startsWith('encoder.block.') && !prefix.includes('relative_attention_bias'));
    expect(t5.length).toBe(2 * 7);
    expect(new Set(t5.map(([, s]) => s.bits))).toEqual(new Set([4, 8]));
    for (const [prefix, s] of t5) expect(maxAbsDiff(s.values, exact.get(prefix)!.values), prefix).toBe(0);
  });

  it('refuses the transformer GGUF as a text encoder (another architecture)', async () => {
    const error = await convert('t5-arch', { checkpoint: demo, textEncoder2: join(work, 'flux1-tiny-F32.gguf') }).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/architecture "flux"/);
  });
});

describe('CLI with BFL and GGUF files', () => {
  const cli = (...args: string[]) => runCli(args);

  it('convert --checkpoint <dir> --transformer <gguf> --vae <ae.safetensors> --out <dir>', async () => {
    const out = join(work, 'cli-gguf');
    const r = await cli('convert', '--checkpoint', configsOnly, '--transformer', join(work, 'flux1-tiny-Q.gguf'), '--vae', join(work, 'ae.safetensors'), '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote \d+ files/);
    expect(r.stderr).toMatch(/warning: .*Q4_1/);
  }, 60_000);

  it('a missing override file exits 1 naming it', async () => {
    const r = await cli('convert', '--checkpoint', configsOnly, '--transformer', join(work, 'nope.gguf'), '--out', join(work, 'cli-missing'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(join(work, 'nope.gguf'));
  }, 60_000);
});

describe('the folder sink on a full disk', () => {
  it('turns ENOSPC into a StorageQuotaError that says to free space and rerun', async () => {
    const file = await openFileSink('/dev/full');
    const error = await file.write(new Uint8Array(1 << 16)).catch((e) => e);
    await file.close();
    expect(error).toBeInstanceOf(StorageQuotaError);
    expect(error.message).toMatch(/disk is full/);
    expect(error.message).toMatch(/resume/);
  });
});
