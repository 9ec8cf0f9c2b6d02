import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it, expect } from 'vitest';
import { CheckpointError } from '../src/errors.ts';
import {
  bf16ToF32,
  bfloat16BytesToFloat32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  float16BytesToFloat32,
  float32ToBfloat16Bytes,
  float32ToFloat16Bytes,
} from '../src/formats/float16.ts';
import { parseSafetensorsHeader, readSafetensors, writeSafetensors } from '../src/formats/safetensors.ts';
import { Mt19937 } from '../src/pipeline/randn.ts';
import { openCheckpointDir } from '../tools/convert/local-files.ts';

const GOLDEN = new URL('../../shared/golden/', import.meta.url);

function headerText(file: Uint8Array): string {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return new TextDecoder().decode(file.subarray(8, 8 + n));
}

describe('float16', () => {
  it('decodes special and boundary values', () => {
    expect(f16ToF32(0x0000)).toBe(0);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x0400)).toBe(2 ** -14);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
  });

  it('encodes with round-to-nearest-even, overflow, subnormals and NaN', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519.99)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // tie at the top rounds to even = Inf
    expect(f32ToF16(1e9)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(NaN) & 0x7fff).toBe(0x7e00);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal
    expect(f32ToF16(1.5 * 2 ** -25)).toBe(0x0001);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // 1.5 ulp ties to even (2)
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie, even mantissa stays
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, odd mantissa rounds up
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the normals
  });

  it('round-trips every half bit pattern, and the array and scalar encoders agree', () => {
    const all = new Uint8Array(65536 * 2);
    for (let h = 0; h < 65536; h++) {
      all[2 * h] = h & 0xff;
      all[2 * h + 1] = h >>> 8;
    }
    const floats = float16BytesToFloat32(all);
    const back = float32ToFloat16Bytes(floats);
    const mismatches: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      const got = back[2 * h]! | (back[2 * h + 1]! << 8);
      if (isNaN) {
        if (!Number.isNaN(floats[h]) || (got & 0x7c00) !== 0x7c00 || (got & 0x3ff) === 0) mismatches.push(`NaN ${h}`);
      } else if (got !== h || f32ToF16(floats[h]!) !== h) {
        mismatches.push(`half ${h}`);
      }
    }
    // Exact midpoints between neighbouring halves (ties) and values just around them.
    const probes: number[] = [];
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (f16ToF32(h) + f16ToF32(h + 1)) / 2;
      probes.push(mid, Math.fround(mid * (1 + 2 ** -23)), Math.fround(mid * (1 - 2 ** -23)));
    }
    // Pseudo-random float32 values over the whole half range and beyond.
    const mt = new Mt19937(7);
    for (let i = 0; i < 20000; i++) probes.push(Math.fround(((mt.nextUint32() / 2 ** 32) - 0.5) * 2 ** ((mt.nextUint32() % 46) - 30)));
    const values = new Float32Array(probes);
    expect(Array.from(values)).toEqual(probes); // all exactly float32
    const encoded = float32ToFloat16Bytes(values);
    for (let i = 0; i < values.length; i++) {
      const arrayBits = encoded[2 * i]! | (encoded[2 * i + 1]! << 8);
      if (arrayBits !== f32ToF16(values[i]!)) mismatches.push(`value ${values[i]}: ${arrayBits} vs ${f32ToF16(values[i]!)}`);
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
  });

  it('converts bfloat16', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie, even stays
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie, odd rounds up
    expect(f32ToBf16(NaN) & 0x7fc0).toBe(0x7fc0);
    const values = new Float32Array([1, -3, 0.15625, 3.0e38, -0]);
    const back = bfloat16BytesToFloat32(float32ToBfloat16Bytes(values));
    expect(Array.from(back)).toEqual([1, -3, 0.15625, bf16ToF32(f32ToBf16(3.0e38)), -0]);
    expect(() => bfloat16BytesToFloat32(new Uint8Array(3))).toThrow(/2-byte/);
  });
});

describe('safetensors in memory', () => {
  const f32 = new Float32Array([1.5, -2.25, 3.125, 0, -0.5, 1e-3]);
  const halfValues = new Float32Array([0.5, -1, 65504, 2 ** -24]);

  it('round-trips F32, F16, BF16, U8, I32, I64 with metadata', () => {
    const file = writeSafetensors(
      {
        'b.weight': { dtype: 'F32', shape: [2, 3], data: f32 },
        'a.half': { dtype: 'F16', shape: [4], data: float32ToFloat16Bytes(halfValues) },
        'c.bf16': { dtype: 'BF16', shape: [2, 2], data: halfValues.subarray(0, 4) },
        'd.u8': { dtype: 'U8', shape: [3], data: new Uint8Array([0, 7, 255]) },
        'e.i32': { dtype: 'I32', shape: [2], data: new Int32Array([-5, 2 ** 31 - 1]) },
        'f.i64': { dtype: 'I64', shape: [1, 2], data: new BigInt64Array([-1n, 1n << 40n]) },
        'g.empty': { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      },
      { format: 'pt', note: 'hello' },
    );
    const read = readSafetensors(file);
    expect([...read.keys()].sort()).toEqual(['a.half', 'b.weight', 'c.bf16', 'd.u8', 'e.i32', 'f.i64', 'g.empty']);
    expect(read.get('b.weight')!.shape).toEqual([2, 3]);
    expect(Array.from(read.get('b.weight')!.data as Float32Array)).toEqual(Array.from(f32));
    expect(read.get('a.half')!.dtype).toBe('F16');
    expect(Array.from(read.get('a.half')!.data as Float32Array)).toEqual(Array.from(halfValues));
    expect(read.get('c.bf16')!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(read.get('c.bf16')!.data as Float32Array)).toEqual([0.5, -1, 65536, bf16ToF32(f32ToBf16(2 ** -24))]);
    expect(read.get('d.u8')!.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(read.get('d.u8')!.data as Uint8Array)).toEqual([0, 7, 255]);
    expect(Array.from(read.get('e.i32')!.data as Int32Array)).toEqual([-5, 2 ** 31 - 1]);
    expect(Array.from(read.get('f.i64')!.data as BigInt64Array)).toEqual([-1n, 1n << 40n]);
    expect((read.get('g.empty')!.data as Float32Array).length).toBe(0);
    expect(parseSafetensorsHeader(file).metadata).toEqual({ format: 'pt', note: 'hello' });
  });

  it('pads the header with spaces to a multiple of 8 and lays data out in sorted order', () => {
    for (let nameLength = 1; nameLength <= 9; nameLength++) {
      const name = 'x'.repeat(nameLength);
      const file = writeSafetensors({ [name]: { dtype: 'U8', shape: [1], data: new Uint8Array([9]) } });
      const header = parseSafetensorsHeader(file);
      expect(header.headerBytes % 8).toBe(0);
      expect(headerText(file)).toMatch(/^\{.*\} *$/);
      expect(header.tensors[name]!.begin).toBe(8 + header.headerBytes);
    }
    const file = writeSafetensors({
      zeta: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) },
      alpha: { dtype: 'U8', shape: [2], data: new Uint8Array([2, 3]) },
    });
    const header = parseSafetensorsHeader(file);
    expect(header.tensors.alpha!.begin).toBeLessThan(header.tensors.zeta!.begin);
    expect(headerText(file).trimEnd()).toBe(
      '{"alpha":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"zeta":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}',
    );
    expect(Array.from(file.subarray(file.length - 3))).toEqual([2, 3, 1]);
  });

  it('reads a file the reference implementation wrote', () => {
    const file = readFileSync(new URL('tiny-flux-a/expected/run1.safetensors', GOLDEN));
    const header = parseSafetensorsHeader(file);
    expect(header.tensors.noise!.shape).toEqual([1, 16, 4, 12]);
    expect(header.tensors.noise!.dtype).toBe('F32');
    expect(header.tensors.noise!.end).toBeLessThanOrEqual(file.length);
  });

  it('rejects truncated and corrupt input with clear errors', () => {
    const good = writeSafetensors({ w: { dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
    expect(() => parseSafetensorsHeader(good.subarray(0, 5))).toThrow(/truncated/);
    expect(() => parseSafetensorsHeader(good.subarray(0, 20))).toThrow(/truncated/);
    expect(() => readSafetensors(good.subarray(0, good.length - 1))).toThrow(/out of bounds/);

    const withHeader = (text: string, dataBytes = 0): Uint8Array => {
      const json = new TextEncoder().encode(text);
      const out = new Uint8Array(8 + json.length + dataBytes);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      return out;
    };
    expect(() => parseSafetensorsHeader(withHeader('{"w": {"dtype": "F32"'))).toThrow(/not JSON/);
    expect(() => parseSafetensorsHeader(withHeader('[1, 2]'))).toThrow(/not a JSON object/);
    expect(() => parseSafetensorsHeader(withHeader('{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', 2))).toThrow(
      /unsupported dtype F8_E4M3/,
    );
    expect(() => parseSafetensorsHeader(withHeader('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8))).toThrow(
      /needs 12 bytes/,
    );
    expect(() => parseSafetensorsHeader(withHeader('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', 8))).toThrow(
      /out of bounds/,
    );
    expect(() => parseSafetensorsHeader(withHeader('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', 8))).toThrow(
      /data_offsets/,
    );
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1n << 60n, true);
    expect(() => parseSafetensorsHeader(huge)).toThrow(/header length/);
  });

  it('rejects data whose length does not match the shape when writing', () => {
    expect(() => writeSafetensors({ w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(/"w".*12 bytes/);
    expect(() => writeSafetensors({ w: { dtype: 'X' as 'F32', shape: [1], data: new Float32Array(1) } })).toThrow(/unsupported dtype/);
  });
});

describe('openCheckpointDir', () => {
  const root = mkdtempSync(join(tmpdir(), 'safetensors-reader-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const weight = new Float32Array(64).map((_, i) => (i - 32) / 8);
  const bias = new Float32Array([0.25, -0.75, 1.5]);

  function writeDir(name: string, files: Record<string, Uint8Array | string>): string {
    const dir = join(root, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
    return dir;
  }

  function shardedFiles(baseName = 'diffusion_pytorch_model'): Record<string, Uint8Array | string> {
    const shard1 = writeSafetensors({
      'blocks.0.weight': { dtype: 'BF16', shape: [8, 8], data: weight },
      'blocks.0.bias': { dtype: 'BF16', shape: [3], data: bias },
    });
    const shard2 = writeSafetensors({
      'blocks.1.weight': { dtype: 'F16', shape: [8, 8], data: float32ToFloat16Bytes(weight) },
      'norm.scale': { dtype: 'F32', shape: [3], data: bias },
      'ids': { dtype: 'I64', shape: [2], data: new BigInt64Array([1n, 2n]) },
    });
    const index = {
      metadata: { total_size: shard1.length + shard2.length },
      weight_map: {
        'blocks.0.weight': `${baseName}-00001-of-00002.safetensors`,
        'blocks.0.bias': `${baseName}-00001-of-00002.safetensors`,
        'blocks.1.weight': `${baseName}-00002-of-00002.safetensors`,
        'norm.scale': `${baseName}-00002-of-00002.safetensors`,
        ids: `${baseName}-00002-of-00002.safetensors`,
      },
    };
    return {
      [`${baseName}-00001-of-00002.safetensors`]: shard1,
      [`${baseName}-00002-of-00002.safetensors`]: shard2,
      [`${baseName}.safetensors.index.json`]: JSON.stringify(index),
    };
  }

  it('reads a single-file checkpoint', async () => {
    const dir = writeDir('single', {
      'diffusion_pytorch_model.safetensors': writeSafetensors({
        'proj.weight': { dtype: 'F32', shape: [8, 8], data: weight },
        'proj.bias': { dtype: 'BF16', shape: [3], data: bias },
      }),
    });
    const ckpt = await openCheckpointDir(dir);
    try {
      expect(ckpt.names()).toEqual(['proj.bias', 'proj.weight']);
      expect(ckpt.info('proj.weight')).toEqual({ dtype: 'F32', shape: [8, 8], file: join(dir, 'diffusion_pytorch_model.safetensors') });
      expect(Array.from(await ckpt.readFloat32('proj.weight'))).toEqual(Array.from(weight));
      expect(Array.from(await ckpt.readFloat32('proj.bias'))).toEqual(Array.from(bias));
      expect(() => ckpt.info('nope')).toThrow(CheckpointError);
      await expect(ckpt.readFloat32('nope')).rejects.toThrow(/"nope"/);
    } finally {
      await ckpt.close();
    }
  });

  it('reads numbered shards through the index, BF16 and F16 included', async () => {
    const dir = writeDir('sharded', shardedFiles());
    const ckpt = await openCheckpointDir(dir);
    try {
      expect(ckpt.names()).toEqual(['blocks.0.bias', 'blocks.0.weight', 'blocks.1.weight', 'ids', 'norm.scale']);
      expect(ckpt.files).toHaveLength(2);
      expect(ckpt.info('blocks.0.weight').dtype).toBe('BF16');
      expect(ckpt.info('blocks.0.weight').file).toBe(join(dir, 'diffusion_pytorch_model-00001-of-00002.safetensors'));
      expect(ckpt.info('norm.scale').file).toBe(join(dir, 'diffusion_pytorch_model-00002-of-00002.safetensors'));
      // These values are exact in bf16 and f16.
      expect(Array.from(await ckpt.readFloat32('blocks.0.weight'))).toEqual(Array.from(weight));
      expect(Array.from(await ckpt.readFloat32('blocks.0.bias'))).toEqual(Array.from(bias));
      expect(Array.from(await ckpt.readFloat32('blocks.1.weight'))).toEqual(Array.from(weight));
      expect(Array.from(await ckpt.readFloat32('norm.scale'))).toEqual(Array.from(bias));
      const parallel = await Promise.all(ckpt.names().filter((n) => n !== 'ids').map((n) => ckpt.readFloat32(n)));
      expect(parallel.map((a) => a.length)).toEqual([3, 64, 64, 3]);
      await expect(ckpt.readFloat32('ids')).rejects.toThrow(/I64/);
      expect(Array.from(await ckpt.readBytes('ids'))).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    } finally {
      await ckpt.close();
    }
  });

  it('accepts model.safetensors(.index.json) through baseName', async () => {
    const dir = writeDir('transformers-style', shardedFiles('model'));
    const ckpt = await openCheckpointDir(dir, 'model');
    expect(ckpt.names()).toHaveLength(5);
    await ckpt.close();
    await expect(openCheckpointDir(dir)).rejects.toThrow(/diffusion_pytorch_model\.safetensors/);
  });

  it('names the missing shard file', async () => {
    const files = shardedFiles();
    delete files['diffusion_pytorch_model-00002-of-00002.safetensors'];
    const dir = writeDir('missing-shard', files);
    const error = await openCheckpointDir(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as CheckpointError).message).toContain('diffusion_pytorch_model-00002-of-00002.safetensors');
    expect((error as CheckpointError).message).toMatch(/missing/);
    expect((error as CheckpointError).file).toBe(join(dir, 'diffusion_pytorch_model-00002-of-00002.safetensors'));
  });

  it('names a tensor the index maps to a shard that lacks it', async () => {
    const files = shardedFiles();
    const index = JSON.parse(files['diffusion_pytorch_model.safetensors.index.json'] as string);
    index.weight_map['blocks.9.weight'] = 'diffusion_pytorch_model-00001-of-00002.safetensors';
    files['diffusion_pytorch_model.safetensors.index.json'] = JSON.stringify(index);
    const dir = writeDir('missing-tensor', files);
    const error = (await openCheckpointDir(dir).catch((e: unknown) => e)) as CheckpointError;
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toContain('"blocks.9.weight"');
    expect(error.message).toContain('diffusion_pytorch_model-00001-of-00002.safetensors');
    expect(error.tensor).toBe('blocks.9.weight');
  });

  it('names the directory when there is no checkpoint, and the file when it is truncated or corrupt', async () => {
    const empty = writeDir('empty', {});
    await expect(openCheckpointDir(empty)).rejects.toThrow(CheckpointError);
    await expect(openCheckpointDir(empty)).rejects.toThrow(/diffusion_pytorch_model\.safetensors\.index\.json/);

    const badIndex = writeDir('bad-index', { 'diffusion_pytorch_model.safetensors.index.json': '{"weight_map": ' });
    await expect(openCheckpointDir(badIndex)).rejects.toThrow(/index\.json is not valid JSON/);

    const full = writeSafetensors({ w: { dtype: 'F32', shape: [64], data: new Float32Array(64) } });
    const truncatedDir = writeDir('truncated', { 'diffusion_pytorch_model.safetensors': full });
    const path = join(truncatedDir, 'diffusion_pytorch_model.safetensors');
    truncateSync(path, full.length - 10);
    const error = (await openCheckpointDir(truncatedDir).catch((e: unknown) => e)) as CheckpointError;
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toContain(path);
    expect(error.message).toMatch(/out of bounds|truncated/);
    expect(error.file).toBe(path);
    expect(error.tensor).toBe('w');

    truncateSync(path, 12);
    await expect(openCheckpointDir(truncatedDir)).rejects.toThrow(/truncated/);

    const json = new TextEncoder().encode('{"w":{"dtype":"F8_E5M2","shape":[2],"data_offsets":[0,2]}}');
    const unsupported = new Uint8Array(8 + json.length + 2);
    new DataView(unsupported.buffer).setBigUint64(0, BigInt(json.length), true);
    unsupported.set(json, 8);
    const unsupportedDir = writeDir('unsupported', { 'diffusion_pytorch_model.safetensors': unsupported });
    const dtypeError = (await openCheckpointDir(unsupportedDir).catch((e: unknown) => e)) as CheckpointError;
    expect(dtypeError).toBeInstanceOf(CheckpointError);
    expect(dtypeError.message).toMatch(/unsupported dtype F8_E5M2/);
    expect(dtypeError.message).toContain(join(unsupportedDir, 'diffusion_pytorch_model.safetensors'));
    expect(dtypeError.tensor).toBe('w');
  });

  it('reads the golden tiny-flux-a transformer checkpoint headers', async () => {
    const dir = new URL('tiny-flux-a/transformer/', GOLDEN).pathname;
    const ckpt = await openCheckpointDir(dir);
    try {
      const names = ckpt.names();
      expect(names.length).toBeGreaterThan(10);
      const first = names[0]!;
      const values = await ckpt.readFloat32(first);
      expect(values.length).toBe(ckpt.info(first).shape.reduce((a, b) => a * b, 1));
    } finally {
      await ckpt.close();
    }
  });
});
