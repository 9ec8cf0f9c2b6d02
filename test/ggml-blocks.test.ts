/**
 * GGUF reading and GGML block formats: the header (metadata, tensor infos in torch
 * order), every storage type the test writer produces read back bit-exactly, hand-made
 * K-quant blocks against ggml's formulas, and the Q4_0 nibble order mapped onto
 * MatMulNBits' consecutive pairs.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dequantizeGgml, ggmlBlocksToMatMulNBits } from '../src/convert/ggml-blocks.ts';
import { openGguf } from '../src/convert/gguf-source.ts';
import { dequantizeBlockwise } from '../src/convert/quantize.ts';
import { CheckpointError } from '../src/errors.ts';
import { openLocalFile } from '../tools/convert/local-files.ts';
import { writeGguf, type GgufWriteType } from './support/gguf-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'flux-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HALF_ONE = [0x00, 0x3c];
const HALF_HALF = [0x00, 0x38];

describe('GGUF files', () => {
  it('read back every written type exactly, with torch-order shapes and the metadata', async () => {
    const values = Float32Array.from({ length: 4 * 64 }, (_, i) => Math.sin(i * 0.91) * (1 + (i % 7)));
    const types: GgufWriteType[] = ['F32', 'F16', 'Q8_0', 'Q4_0', 'Q4_1'];
    const path = join(dir, 'all.gguf');
    const written = writeGguf(
      path,
      { 'general.architecture': { type: 'string', value: 'flux' }, 'test.count': { type: 'uint32', value: 7 }, 'test.ratio': { type: 'float32', value: 0.5 }, 'test.flag': { type: 'bool', value: true } },
      types.map((type) => ({ name: `w.${type}`, shape: [4, 64], values, type })),
    );
    const gguf = await openGguf(await openLocalFile(path));
    try {
      expect(gguf.version).toBe(3);
      expect(gguf.architecture).toBe('flux');
      expect([gguf.metadata.get('test.count'), gguf.metadata.get('test.ratio'), gguf.metadata.get('test.flag')]).toEqual([7, 0.5, true]);
      for (const type of types) {
        expect(gguf.info(`w.${type}`)).toEqual({ dtype: type, shape: [4, 64], file: path });
        const got = await gguf.readFloat32(`w.${type}`);
        const want = written.values.get(`w.${type}`)!;
        for (let i = 0; i < want.length; i++) expect(Object.is(got[i], want[i]), `${type} [${i}]`).toBe(true);
      }
    } finally {
      await gguf.close();
    }
  });

  it('refuse what is not GGUF, and a truncated file, naming the file', async () => {
    const path = join(dir, 'not.gguf');
    writeFileSync(path, new Uint8Array(64));
    await expect(openGguf(await openLocalFile(path))).rejects.toThrow(/not a GGUF file/);
    const full = join(dir, 'full.gguf');
    writeGguf(full, {}, [{ name: 'w', shape: [32, 32], values: new Float32Array(1024), type: 'F32' }]);
    const cut = join(dir, 'cut.gguf');
    writeFileSync(cut, readFileSync(full).subarray(0, 2000));
    const error = await openGguf(await openLocalFile(cut)).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toContain(cut);
    expect(error.message).toMatch(/truncated/);
  });
});

describe('GGML blocks', () => {
  it('Q4_0 → MatMulNBits: ggml halves (0–15 low, 16–31 high) become consecutive pairs', () => {
    const block = new Uint8Array([...HALF_ONE, ...Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4))]);
    const expected = Float32Array.from({ length: 32 }, (_, e) => (e < 16 ? e - 8 : 15 - (e - 16) - 8));
    expect(Array.from(dequantizeGgml('Q4_0', block, 32))).toEqual(Array.from(expected));
    const q4 = ggmlBlocksToMatMulNBits('Q4_0', block, 1, 32, 4);
    expect(q4.packed[0]).toBe(0 | (1 << 4)); // elements 0 and 1 (levels 0, 1)
    expect(q4.packed[8]).toBe(15 | (14 << 4)); // elements 16 and 17 (levels 15, 14)
    expect(Array.from(dequantizeBlockwise(q4, 1, 32, 4))).toEqual(Array.from(expected));
    const q8 = ggmlBlocksToMatMulNBits('Q4_0', block, 1, 32, 8); // widened for 8-bit layers, still exact
    expect(Array.from(dequantizeBlockwise(q8, 1, 32, 8))).toEqual(Array.from(expected));
  });

  it('Q8_0 → MatMulNBits 8-bit keeps the int8 levels and the fp16 scale', () => {
    const levels = Array.from({ length: 32 }, (_, j) => j * 8 - 127);
    const block = new Uint8Array([...HALF_HALF, ...levels.map((v) => v & 0xff)]);
    const q = ggmlBlocksToMatMulNBits('Q8_0', block, 1, 32, 8);
    expect(q.scales[0]).toBe(0.5);
    expect(Array.from(dequantizeBlockwise(q, 1, 32, 8))).toEqual(levels.map((v) => v * 0.5));
    expect(() => ggmlBlocksToMatMulNBits('Q8_0', block, 1, 32, 4)).toThrow();
  });

  it('K-quants follow ggml: Q2_K, Q4_K, Q5_K and Q6_K on hand-made blocks', () => {
    // Q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin.
    const q2 = new Uint8Array(84);
    q2.fill(0x21, 0, 16); // scale 1, min 2
    q2.fill(0b11_10_01_00, 16, 80); // levels 0,1,2,3 at shifts 0,2,4,6
    q2.set(HALF_ONE, 80);
    q2.set(HALF_HALF, 82);
    const y2 = dequantizeGgml('Q2_K', q2, 256);
    // First 128: for shift s (0,2,4,6) two runs of 16 with level s/2; value = 1·level − 0.5·2.
    expect([y2[0], y2[32], y2[64], y2[96], y2[128]]).toEqual([-1, 0, 1, 2, -1]);

    // Q4_K: d, dmin, scales[12] (6-bit scale/min pairs), qs[128]; sub-block j<4: scale q[j]&63, min q[j+4]&63.
    const q4 = new Uint8Array(144);
    q4.set(HALF_ONE, 0);
    q4.set(HALF_HALF, 2);
    q4.set([3, 3, 3, 3, 2, 2, 2, 2, 0, 0, 0, 0], 4); // sub-blocks 0–3: scale 3, min 2; 4–7: scale 0, min 0
    q4.fill(0x52, 16); // low nibble 2, high nibble 5
    const y4 = dequantizeGgml('Q4_K', q4, 256);
    expect([y4[0], y4[32], y4[64], y4[255]]).toEqual([3 * 2 - 1, 3 * 5 - 1, 3 * 2 - 1, 0]);

    // Q5_K: as Q4_K plus qh[32]: bit u1 adds 16 to the low nibble's element.
    const q5 = new Uint8Array(176);
    q5.set(HALF_ONE, 0);
    q5.set([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], 4);
    q5.fill(0b01, 16, 48); // qh: first pair's low-nibble high bit
    q5.fill(0x11, 48);
    const y5 = dequantizeGgml('Q5_K', q5, 256);
    expect([y5[0], y5[32]]).toEqual([17, 1]);

    // Q6_K: ql[128], qh[64], scales[16] (int8), d; level = (4 bits | 2 high bits) − 32.
    const q6 = new Uint8Array(210);
    q6.fill(2, 192, 208); // every scale 2
    q6.set(HALF_HALF, 208);
    const y6 = dequantizeGgml('Q6_K', q6, 256);
    expect(y6[0]).toBe(0.5 * 2 * -32);
  });
});
