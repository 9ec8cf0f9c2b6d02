/**
 * GGML tensor storage types as GGUF files hold them: their block sizes, dequantization
 * to float32 (the arithmetic of ggml's `dequantize_row_*`, float32 products of the fp16
 * scales and the integer levels), and the exact mapping of Q4_0 / Q8_0 blocks onto
 * onnxruntime's `MatMulNBits` layout (block 32, default zero point 8 / 128), so that a
 * package holds exactly the values the GGUF file dequantizes to.
 */
import { f16ToF32, bf16ToF32 } from '../formats/float16.ts';
import type { QuantizedWeight } from './quantize.ts';

/** ggml type ids (ggml.h `enum ggml_type`) by name, for the types this converter reads. */
export const GGML_TYPES = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  BF16: 30,
} as const;

/** A storage type this converter can read. */
export type GgmlTypeName = keyof typeof GGML_TYPES;

/** Names of every ggml type id, including those it cannot read (for messages). */
const ALL_TYPE_NAMES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K',
  13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S',
  22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 30: 'BF16', 34: 'TQ1_0',
  35: 'TQ2_0', 39: 'MXFP4',
};

/** The name of ggml type `id` (`type 99` when unknown). */
export function ggmlTypeName(id: number): string {
  return ALL_TYPE_NAMES[id] ?? `type ${id}`;
}

/** Elements per block and bytes per block of each readable type. */
const LAYOUT: Record<GgmlTypeName, { elements: number; bytes: number }> = {
  F32: { elements: 1, bytes: 4 },
  F16: { elements: 1, bytes: 2 },
  BF16: { elements: 1, bytes: 2 },
  Q4_0: { elements: 32, bytes: 18 },
  Q4_1: { elements: 32, bytes: 20 },
  Q5_0: { elements: 32, bytes: 22 },
  Q5_1: { elements: 32, bytes: 24 },
  Q8_0: { elements: 32, bytes: 34 },
  Q2_K: { elements: 256, bytes: 84 },
  Q3_K: { elements: 256, bytes: 110 },
  Q4_K: { elements: 256, bytes: 144 },
  Q5_K: { elements: 256, bytes: 176 },
  Q6_K: { elements: 256, bytes: 210 },
};

/** Whether `name` is a type this converter reads. */
export function isReadableGgmlType(name: string): name is GgmlTypeName {
  return name in LAYOUT;
}

/** Elements per block of a readable type (1 for float types). */
export function ggmlBlockElements(type: GgmlTypeName): number {
  return LAYOUT[type].elements;
}

/**
 * Bytes of `count` elements stored as `type`.
 * @throws Error when `count` is not a whole number of blocks
 */
export function ggmlByteSize(type: GgmlTypeName, count: number): number {
  const { elements, bytes } = LAYOUT[type];
  if (count % elements !== 0) throw new Error(`${count} elements are not a whole number of ${type} blocks of ${elements}`);
  return (count / elements) * bytes;
}

/** Whether a type's blocks map onto MatMulNBits without requantizing (Q4_0 → 4-bit, Q8_0 → 8-bit). */
export function exactBlockBits(type: string): 4 | 8 | undefined {
  return type === 'Q4_0' ? 4 : type === 'Q8_0' ? 8 : undefined;
}

const half = (b: Uint8Array, at: number) => f16ToF32(b[at] | (b[at + 1] << 8));

/** The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml `get_scale_min_k4`). */
function scaleMinK4(j: number, q: Uint8Array, at: number): [number, number] {
  if (j < 4) return [q[at + j] & 63, q[at + j + 4] & 63];
  return [(q[at + j + 4] & 0xf) | ((q[at + j - 4] >> 6) << 4), (q[at + j + 4] >> 4) | ((q[at + j] >> 6) << 4)];
}

/**
 * Dequantizes `count` elements stored as `type` (ggml's `dequantize_row_*`; every product
 * is rounded to float32 as ggml computes it).
 * @param bytes the stored bytes, exactly `ggmlByteSize(type, count)`
 */
export function dequantizeGgml(type: GgmlTypeName, bytes: Uint8Array, count: number): Float32Array {
  const y = new Float32Array(count);
  const f = Math.fround;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blocks = count / LAYOUT[type].elements;
  const size = LAYOUT[type].bytes;
  switch (type) {
    case 'F32':
      for (let i = 0; i < count; i++) y[i] = view.getFloat32(4 * i, true);
      return y;
    case 'F16':
      for (let i = 0; i < count; i++) y[i] = half(bytes, 2 * i);
      return y;
    case 'BF16':
      for (let i = 0; i < count; i++) y[i] = bf16ToF32(bytes[2 * i] | (bytes[2 * i + 1] << 8));
      return y;
  }
  for (let b = 0; b < blocks; b++) {
    const at = b * size;
    const out = b * LAYOUT[type].elements;
    switch (type) {
      case 'Q4_0': {
        const d = half(bytes, at);
        for (let j = 0; j < 16; j++) {
          y[out + j] = f(((bytes[at + 2 + j] & 0x0f) - 8) * d);
          y[out + j + 16] = f(((bytes[at + 2 + j] >> 4) - 8) * d);
        }
        break;
      }
      case 'Q4_1': {
        const d = half(bytes, at);
        const m = half(bytes, at + 2);
        for (let j = 0; j < 16; j++) {
          y[out + j] = f(f((bytes[at + 4 + j] & 0x0f) * d) + m);
          y[out + j + 16] = f(f((bytes[at + 4 + j] >> 4) * d) + m);
        }
        break;
      }
      case 'Q5_0':
      case 'Q5_1': {
        const withMin = type === 'Q5_1';
        const d = half(bytes, at);
        const m = withMin ? half(bytes, at + 2) : 0;
        const qhAt = at + (withMin ? 4 : 2);
        const qh = view.getUint32(qhAt, true);
        for (let j = 0; j < 16; j++) {
          const xh0 = ((qh >>> j) << 4) & 0x10;
          const xh1 = (qh >>> (j + 12)) & 0x10;
          const q = bytes[qhAt + 4 + j];
          if (withMin) {
            y[out + j] = f(f(((q & 0x0f) | xh0) * d) + m);
            y[out + j + 16] = f(f(((q >> 4) | xh1) * d) + m);
          } else {
            y[out + j] = f((((q & 0x0f) | xh0) - 16) * d);
            y[out + j + 16] = f((((q >> 4) | xh1) - 16) * d);
          }
        }
        break;
      }
      case 'Q8_0': {
        const d = half(bytes, at);
        for (let j = 0; j < 32; j++) y[out + j] = f(view.getInt8(at + 2 + j) * d);
        break;
      }
      case 'Q2_K': {
        // scales[16], qs[64], d, dmin
        const d = half(bytes, at + 80);
        const min = half(bytes, at + 82);
        let o = out;
        let is = 0;
        for (let n = 0; n < 256; n += 128) {
          const q = at + 16 + n / 4;
          for (let shift = 0; shift < 8; shift += 2) {
            for (const half16 of [0, 16]) {
              const sc = bytes[at + is++];
              const dl = f(d * (sc & 0xf));
              const ml = f(min * (sc >> 4));
              for (let l = 0; l < 16; l++) y[o++] = f(f(dl * ((bytes[q + l + half16] >> shift) & 3)) - ml);
            }
          }
        }
        break;
      }
      case 'Q3_K': {
        // hmask[32], qs[64], scales[12], d
        const d = half(bytes, at + 108);
        const s = (i: number) => bytes[at + 96 + i];
        const scales = new Int8Array(16);
        for (let i = 0; i < 16; i++) {
          const low = i < 8 ? s(i) & 0xf : s(i - 8) >> 4;
          const high = (s(8 + (i % 4)) >> (2 * Math.floor(i / 4))) & 3;
          scales[i] = (low | (high << 4)) - 32;
        }
        let o = out;
        let is = 0;
        let m = 1;
        for (let n = 0; n < 256; n += 128) {
          const q = at + 32 + n / 4;
          for (let shift = 0; shift < 8; shift += 2) {
            for (const half16 of [0, 16]) {
              const dl = f(d * scales[is++]);
              for (let l = 0; l < 16; l++) {
                const low = (bytes[q + l + half16] >> shift) & 3;
                const high = bytes[at + l + half16] & m ? 0 : 4;
                y[o++] = f(dl * (low - high));
              }
            }
            m <<= 1;
          }
        }
        break;
      }
      case 'Q4_K':
      case 'Q5_K': {
        // d, dmin, scales[12], (qh[32] for Q5_K), qs[128]
        const five = type === 'Q5_K';
        const d = half(bytes, at);
        const min = half(bytes, at + 2);
        const qh = at + 16;
        let ql = at + (five ? 48 : 16);
        let o = out;
        let u1 = 1;
        let u2 = 2;
        for (let is = 0; is < 8; is += 2) {
          const [sc1, m1s] = scaleMinK4(is, bytes, at + 4);
          const [sc2, m2s] = scaleMinK4(is + 1, bytes, at + 4);
          const d1 = f(d * sc1);
          const m1 = f(min * m1s);
          const d2 = f(d * sc2);
          const m2 = f(min * m2s);
          for (let l = 0; l < 32; l++) y[o++] = f(f(d1 * ((bytes[ql + l] & 0xf) + (five && bytes[qh + l] & u1 ? 16 : 0))) - m1);
          for (let l = 0; l < 32; l++) y[o++] = f(f(d2 * ((bytes[ql + l] >> 4) + (five && bytes[qh + l] & u2 ? 16 : 0))) - m2);
          ql += 32;
          u1 <<= 2;
          u2 <<= 2;
        }
        break;
      }
      case 'Q6_K': {
        // ql[128], qh[64], scales[16] (int8), d
        const d = half(bytes, at + 208);
        for (let n = 0; n < 2; n++) {
          const ql = at + 64 * n;
          const qh = at + 128 + 32 * n;
          const sc = at + 192 + 8 * n;
          const o = out + 128 * n;
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const q1 = ((bytes[ql + l] & 0xf) | (((bytes[qh + l] >> 0) & 3) << 4)) - 32;
            const q2 = ((bytes[ql + l + 32] & 0xf) | (((bytes[qh + l] >> 2) & 3) << 4)) - 32;
            const q3 = ((bytes[ql + l] >> 4) | (((bytes[qh + l] >> 4) & 3) << 4)) - 32;
            const q4 = ((bytes[ql + l + 32] >> 4) | (((bytes[qh + l] >> 6) & 3) << 4)) - 32;
            y[o + l] = f(f(d * view.getInt8(sc + is)) * q1);
            y[o + l + 32] = f(f(d * view.getInt8(sc + is + 2)) * q2);
            y[o + l + 64] = f(f(d * view.getInt8(sc + is + 4)) * q3);
            y[o + l + 96] = f(f(d * view.getInt8(sc + is + 6)) * q4);
          }
        }
        break;
      }
    }
  }
  return y;
}

/**
 * A linear weight W [n, k] stored as Q4_0 or Q8_0 blocks (rows of k/32 blocks), laid out
 * for MatMulNBits with `bits` (4 or 8; Q8_0 needs 8) without requantizing: the scales are
 * the blocks' fp16 scales as float32, the levels are the stored integers (Q4_0 nibbles
 * reordered from ggml's halves — elements 0–15 low, 16–31 high — to consecutive pairs;
 * shifted by 120 when Q4_0 is widened to 8 bits; Q8_0's int8 shifted by 128).
 * @throws Error when k is not a multiple of 32 or the byte count does not match
 */
export function ggmlBlocksToMatMulNBits(type: 'Q4_0' | 'Q8_0', raw: Uint8Array, n: number, k: number, bits: 4 | 8): QuantizedWeight {
  if (k % 32 !== 0) throw new Error(`${type} rows of ${k} elements are not whole blocks of 32`);
  if (type === 'Q8_0' && bits !== 8) throw new Error('Q8_0 blocks need 8-bit MatMulNBits');
  const blocksPerRow = k / 32;
  const blockCount = n * blocksPerRow;
  const inSize = LAYOUT[type].bytes;
  if (raw.byteLength !== blockCount * inSize) throw new Error(`${type} [${n}, ${k}]: ${raw.byteLength} bytes, expected ${blockCount * inSize}`);
  const bytesPerBlock = (32 * bits) / 8;
  const packed = new Uint8Array(blockCount * bytesPerBlock);
  const scales = new Float32Array(blockCount);
  for (let b = 0; b < blockCount; b++) {
    const at = b * inSize;
    scales[b] = half(raw, at);
    const out = b * bytesPerBlock;
    if (type === 'Q8_0') {
      for (let j = 0; j < 32; j++) packed[out + j] = (raw[at + 2 + j] + 128) & 0xff; // int8 two's complement + 128
    } else if (bits === 4) {
      // Element e is the low nibble of qs[e] for e < 16 and the high nibble of qs[e − 16]
      // otherwise; MatMulNBits wants elements 2i (low) and 2i + 1 (high) in byte i.
      const qs = at + 2;
      for (let i = 0; i < 8; i++) packed[out + i] = (raw[qs + 2 * i] & 0x0f) | ((raw[qs + 2 * i + 1] & 0x0f) << 4);
      for (let i = 0; i < 8; i++) packed[out + 8 + i] = (raw[qs + 2 * i] >> 4) | (raw[qs + 2 * i + 1] & 0xf0);
    } else {
      for (let j = 0; j < 16; j++) {
        packed[out + j] = (raw[at + 2 + j] & 0x0f) + 120;
        packed[out + j + 16] = (raw[at + 2 + j] >> 4) + 120;
      }
    }
  }
  return { packed, scales, blocksPerRow, bytesPerBlock };
}
