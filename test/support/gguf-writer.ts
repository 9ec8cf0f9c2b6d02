/**
 * A small GGUF v3 writer for tests: metadata key-values and tensors stored as F32, F16,
 * Q8_0, Q4_0 or Q4_1, written as llama.cpp lays them out (dims innermost first, data
 * aligned to 32). Quantization follows ggml's reference `quantize_row_*_ref`; what
 * matters for the tests is that the stored integers and scales are known, so the values
 * a reader must produce are `dequantized(...)`.
 */
import { writeFileSync } from 'node:fs';
import { f16ToF32, f32ToF16 } from '../../src/formats/float16.ts';

/** Storage types this writer produces. */
export type GgufWriteType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0' | 'Q4_1';
const TYPE_IDS: Record<GgufWriteType, number> = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 8 };

/** A metadata value with its GGUF type. */
export type GgufMeta = { type: 'string'; value: string } | { type: 'uint32'; value: number } | { type: 'float32'; value: number } | { type: 'bool'; value: boolean };

/** One tensor to write: torch-order shape, float32 values, storage type. */
export interface GgufTensorToWrite {
  name: string;
  shape: number[];
  values: Float32Array;
  type: GgufWriteType;
  /** Write these bytes under this ggml type id instead (for types the writer cannot encode). */
  raw?: { typeId: number; bytes: Uint8Array };
}

/** What a quantized tensor holds once read back: ggml's dequantization of the stored blocks. */
export interface QuantizedBlocks {
  bytes: Uint8Array;
  dequantized: Float32Array;
}

const half = (x: number) => f16ToF32(f32ToF16(x));

/** Stores `values` (length a multiple of 32 for block types) as `type`; returns the bytes and their exact dequantized values. */
export function encodeGgml(type: GgufWriteType, values: Float32Array): QuantizedBlocks {
  const n = values.length;
  if (type === 'F32') return { bytes: new Uint8Array(values.slice().buffer), dequantized: values.slice() };
  if (type === 'F16') {
    const bytes = new Uint8Array(2 * n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const h = f32ToF16(values[i]);
      bytes[2 * i] = h & 0xff;
      bytes[2 * i + 1] = h >> 8;
      out[i] = f16ToF32(h);
    }
    return { bytes, dequantized: out };
  }
  if (n % 32 !== 0) throw new Error(`${type} needs a multiple of 32 values, got ${n}`);
  const blockBytes = { Q8_0: 34, Q4_0: 18, Q4_1: 20 }[type];
  const bytes = new Uint8Array((n / 32) * blockBytes);
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 32; b++) {
    const x = values.subarray(32 * b, 32 * b + 32);
    const at = b * blockBytes;
    if (type === 'Q8_0') {
      const amax = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const d = amax / 127;
      const id = d ? 1 / d : 0;
      const dh = f32ToF16(d);
      view.setUint16(at, dh, true);
      for (let j = 0; j < 32; j++) {
        const q = Math.round(x[j] * id);
        view.setInt8(at + 2 + j, q);
        out[32 * b + j] = Math.fround(q * f16ToF32(dh));
      }
    } else if (type === 'Q4_0') {
      let max = 0;
      for (const v of x) if (Math.abs(v) > Math.abs(max)) max = v;
      const d = max / -8;
      const id = d ? 1 / d : 0;
      const dh = f32ToF16(d);
      view.setUint16(at, dh, true);
      const q = (v: number) => Math.min(15, Math.trunc(v * id + 8.5));
      for (let j = 0; j < 16; j++) {
        const lo = q(x[j]);
        const hi = q(x[j + 16]);
        bytes[at + 2 + j] = lo | (hi << 4);
        out[32 * b + j] = Math.fround((lo - 8) * f16ToF32(dh));
        out[32 * b + j + 16] = Math.fround((hi - 8) * f16ToF32(dh));
      }
    } else {
      const min = x.reduce((m, v) => Math.min(m, v), Infinity);
      const max = x.reduce((m, v) => Math.max(m, v), -Infinity);
      const d = (max - min) / 15;
      const id = d ? 1 / d : 0;
      const dh = f32ToF16(d);
      const mh = f32ToF16(min);
      view.setUint16(at, dh, true);
      view.setUint16(at + 2, mh, true);
      const q = (v: number) => Math.min(15, Math.trunc((v - min) * id + 0.5));
      for (let j = 0; j < 16; j++) {
        const lo = q(x[j]);
        const hi = q(x[j + 16]);
        bytes[at + 4 + j] = lo | (hi << 4);
        out[32 * b + j] = Math.fround(Math.fround(lo * f16ToF32(dh)) + half(min));
        out[32 * b + j + 16] = Math.fround(Math.fround(hi * f16ToF32(dh)) + half(min));
      }
    }
  }
  return { bytes, dequantized: out };
}

/** What `writeGguf` wrote. */
export interface WrittenGguf {
  /** Each tensor's dequantized values (what a reader must produce), by name. */
  values: Map<string, Float32Array>;
  /** Each tensor's data as absolute byte range [begin, end) in the file, by name. */
  ranges: Map<string, [number, number]>;
}

/** Writes a GGUF v3 file. */
export function writeGguf(path: string, metadata: Record<string, GgufMeta>, tensors: GgufTensorToWrite[]): WrittenGguf {
  const parts: Uint8Array[] = [];
  const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);
  const u64 = (v: number) => new Uint8Array(new BigUint64Array([BigInt(v)]).buffer);
  const str = (s: string) => {
    const b = new TextEncoder().encode(s);
    return [u64(b.length), b];
  };
  parts.push(new TextEncoder().encode('GGUF'), u32(3), u64(tensors.length), u64(Object.keys(metadata).length));
  for (const [key, meta] of Object.entries(metadata)) {
    parts.push(...str(key));
    if (meta.type === 'string') parts.push(u32(8), ...str(meta.value));
    else if (meta.type === 'uint32') parts.push(u32(4), u32(meta.value));
    else if (meta.type === 'float32') parts.push(u32(6), new Uint8Array(new Float32Array([meta.value]).buffer));
    else parts.push(u32(7), new Uint8Array([meta.value ? 1 : 0]));
  }
  const encoded = tensors.map((t) => (t.raw ? { bytes: t.raw.bytes, dequantized: new Float32Array(0) } : encodeGgml(t.type, t.values)));
  let offset = 0;
  const offsets: number[] = [];
  for (const e of encoded) {
    offsets.push(offset);
    offset = Math.ceil((offset + e.bytes.length) / 32) * 32;
  }
  tensors.forEach((t, i) => {
    parts.push(...str(t.name), u32(t.shape.length));
    for (const d of [...t.shape].reverse()) parts.push(u64(d));
    parts.push(u32(t.raw?.typeId ?? TYPE_IDS[t.type]), u64(offsets[i]));
  });
  let headerLength = parts.reduce((s, p) => s + p.length, 0);
  const pad = (Math.ceil(headerLength / 32) * 32) - headerLength;
  parts.push(new Uint8Array(pad));
  headerLength += pad;
  const file = new Uint8Array(headerLength + offset);
  let at = 0;
  for (const p of parts) {
    file.set(p, at);
    at += p.length;
  }
  encoded.forEach((e, i) => file.set(e.bytes, headerLength + offsets[i]));
  writeFileSync(path, file);
  return {
    values: new Map(tensors.map((t, i) => [t.name, encoded[i].dequantized])),
    ranges: new Map(tensors.map((t, i) => [t.name, [headerLength + offsets[i], headerLength + offsets[i] + encoded[i].bytes.length]])),
  };
}
