/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian u64 header length N, then N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {k: v}}`,
 * then the data, with offsets relative to the first byte after the header.
 *
 * No Node imports: runs in browsers and workers too.
 */

import { bfloat16BytesToFloat32, float16BytesToFloat32, float32ToBfloat16Bytes, float32ToFloat16Bytes } from './float16.ts';

/** Bytes per element of every dtype this module reads and writes. */
export const DTYPE_SIZES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
} as const;

/** A dtype this module supports. */
export type SafetensorsDtype = keyof typeof DTYPE_SIZES;

/** The dtypes `writeSafetensors` accepts. */
export type WritableDtype = 'F32' | 'U8' | 'F16' | 'BF16' | 'I64' | 'I32';

/** One tensor's entry in a parsed header; begin/end are absolute byte offsets in the file. */
export interface TensorHeaderEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute offset of the first data byte in the file (8 + header length + data_offsets[0]). */
  begin: number;
  /** Absolute offset one past the last data byte in the file. */
  end: number;
}

/** A parsed safetensors header. */
export interface SafetensorsHeader {
  /** Length N of the JSON header in bytes (the data section starts at 8 + N). */
  headerBytes: number;
  tensors: Record<string, TensorHeaderEntry>;
  metadata?: Record<string, string>;
}

/** Typed array a dtype decodes to: F32/F16/BF16 all decode to Float32Array. */
export type TensorData = Float32Array | Float64Array | Uint8Array | Int8Array | Int16Array | Int32Array | BigInt64Array;

/** One decoded tensor. */
export interface DecodedTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorData;
}

/** A tensor to write: `data` holds its raw little-endian elements (see writeSafetensors). */
export interface TensorToWrite {
  dtype: WritableDtype;
  shape: number[];
  data: ArrayBufferView;
}

/** Options of parseSafetensorsHeader. */
export interface ParseHeaderOptions {
  /**
   * Size of the whole file in bytes, when `bytes` holds only its beginning (at least
   * 8 + N bytes). Defaults to bytes.length. Tensor ends are checked against it.
   */
  fileSize?: number;
}

/** The safetensors reference implementation refuses headers larger than this (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

const HEADER_ALIGNMENT = 8;

function isSupportedDtype(dtype: string): dtype is SafetensorsDtype {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZES, dtype);
}

/**
 * Reads the header length N from the first 8 bytes (u64 little-endian).
 * @param bytes at least 8 bytes from the start of a safetensors file.
 * @returns N, validated to be at most MAX_HEADER_BYTES.
 */
export function readHeaderLength(bytes: Uint8Array): number {
  if (bytes.length < 8) {
    throw new Error(`safetensors file truncated: ${bytes.length} bytes, fewer than the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(`safetensors header length ${n} is larger than ${MAX_HEADER_BYTES} bytes: not a safetensors file, or corrupt`);
  }
  return Number(n);
}

/**
 * Parses and validates a safetensors header.
 * @param bytes the file, or at least its first 8 + N bytes (then pass options.fileSize).
 * @param options fileSize: the whole file's size in bytes.
 * @returns the header length N, each tensor with absolute [begin, end) byte offsets, and
 *   the optional `__metadata__` string map.
 * @throws Error when the file is truncated, the header is not JSON or malformed, a dtype
 *   is unsupported, a shape does not match its byte range, or offsets are out of bounds.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, options: ParseHeaderOptions = {}): SafetensorsHeader {
  const fileSize = options.fileSize ?? bytes.length;
  const n = readHeaderLength(bytes);
  if (8 + n > bytes.length || 8 + n > fileSize) {
    throw new Error(
      `safetensors file truncated: header declares ${n} bytes but only ${Math.min(bytes.length, fileSize) - 8} follow the length`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new Error('safetensors header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`safetensors header is not JSON: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error('safetensors header is not a JSON object');
  }
  const dataStart = 8 + n;
  const dataSize = fileSize - dataStart;
  const tensors: Record<string, TensorHeaderEntry> = {};
  let metadata: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(value);
      continue;
    }
    tensors[name] = parseEntry(name, value, dataStart, dataSize);
  }
  const header: SafetensorsHeader = { headerBytes: n, tensors };
  if (metadata) header.metadata = metadata;
  return header;
}

function parseMetadata(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('safetensors __metadata__ is not an object');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new Error(`safetensors __metadata__ value of "${k}" is not a string`);
    out[k] = v;
  }
  return out;
}

function parseEntry(name: string, value: unknown, dataStart: number, dataSize: number): TensorHeaderEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`safetensors tensor "${name}": header entry is not an object`);
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') throw new Error(`safetensors tensor "${name}": dtype missing`);
  if (!isSupportedDtype(dtype)) {
    throw new Error(
      `safetensors tensor "${name}": unsupported dtype ${dtype} (supported: ${Object.keys(DTYPE_SIZES).join(', ')})`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`safetensors tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw new Error(`safetensors tensor "${name}": data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
  }
  const [b, e] = offsets as [number, number];
  const numel = (shape as number[]).reduce((p, d) => p * d, 1);
  const expected = numel * DTYPE_SIZES[dtype];
  if (e - b !== expected) {
    throw new Error(
      `safetensors tensor "${name}": ${dtype}${JSON.stringify(shape)} needs ${expected} bytes but data_offsets [${b}, ${e}] span ${e - b}`,
    );
  }
  if (e > dataSize) {
    throw new Error(
      `safetensors tensor "${name}": data_offsets [${b}, ${e}] are out of bounds (data section has ${dataSize} bytes; file truncated?)`,
    );
  }
  return { dtype, shape: [...(shape as number[])], begin: dataStart + b, end: dataStart + e };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Copies little-endian bytes into a fresh, aligned buffer in platform byte order. */
function copyAligned(bytes: Uint8Array, itemSize: number): ArrayBuffer {
  const copy = copyBytes(bytes);
  if (!LITTLE_ENDIAN && itemSize > 1) swapBytes(copy, itemSize);
  return copy.buffer;
}

/**
 * A fresh copy with its own ArrayBuffer. (Not `bytes.slice()`: on a Node Buffer that is
 * a view into the same memory.)
 */
function copyBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

function swapBytes(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i < bytes.length; i += itemSize) {
    for (let a = i, b = i + itemSize - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/**
 * Decodes one tensor's raw little-endian bytes.
 * @param dtype the safetensors dtype.
 * @param bytes exactly numel * itemsize bytes (copied; the result never aliases them).
 * @returns F32/F16/BF16 as Float32Array, F64 as Float64Array, I64 as BigInt64Array,
 *   I32 as Int32Array, I16 as Int16Array, I8 as Int8Array, U8/BOOL as Uint8Array.
 */
export function decodeTensorBytes(dtype: SafetensorsDtype, bytes: Uint8Array): TensorData {
  const size = DTYPE_SIZES[dtype];
  if (bytes.length % size !== 0) throw new Error(`${dtype} data of ${bytes.length} bytes is not a whole number of elements`);
  switch (dtype) {
    case 'F32':
      return new Float32Array(copyAligned(bytes, 4));
    case 'F16':
      return float16BytesToFloat32(bytes);
    case 'BF16':
      return bfloat16BytesToFloat32(bytes);
    case 'F64':
      return new Float64Array(copyAligned(bytes, 8));
    case 'I64':
      return new BigInt64Array(copyAligned(bytes, 8));
    case 'I32':
      return new Int32Array(copyAligned(bytes, 4));
    case 'I16':
      return new Int16Array(copyAligned(bytes, 2));
    case 'I8':
      return new Int8Array(copyAligned(bytes, 1));
    case 'U8':
    case 'BOOL':
      return copyBytes(bytes);
  }
}

/**
 * Decodes a whole safetensors file held in memory.
 * @param bytes the complete file.
 * @returns tensors by name, in header order (see decodeTensorBytes for the array types).
 * @throws Error as parseSafetensorsHeader does.
 */
export function readSafetensors(bytes: Uint8Array): Map<string, DecodedTensor> {
  const header = parseSafetensorsHeader(bytes);
  const out = new Map<string, DecodedTensor>();
  for (const [name, entry] of Object.entries(header.tensors)) {
    out.set(name, {
      dtype: entry.dtype,
      shape: entry.shape,
      data: decodeTensorBytes(entry.dtype, bytes.subarray(entry.begin, entry.end)),
    });
  }
  return out;
}

/** Raw little-endian bytes of a tensor to write, converting Float32Array for F16/BF16. */
function tensorBytes(name: string, t: TensorToWrite): Uint8Array {
  if (!Object.prototype.hasOwnProperty.call(DTYPE_SIZES, t.dtype)) {
    throw new Error(`writeSafetensors: tensor "${name}" has unsupported dtype ${String(t.dtype)}`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`writeSafetensors: tensor "${name}" shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
  }
  const numel = t.shape.reduce((p, d) => p * d, 1);
  let bytes: Uint8Array;
  if ((t.dtype === 'F16' || t.dtype === 'BF16') && t.data instanceof Float32Array) {
    bytes = t.dtype === 'F16' ? float32ToFloat16Bytes(t.data) : float32ToBfloat16Bytes(t.data);
  } else {
    bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const itemSize = DTYPE_SIZES[t.dtype];
    if (!LITTLE_ENDIAN && itemSize > 1) {
      bytes = copyBytes(bytes);
      swapBytes(bytes, itemSize);
    }
  }
  const expected = numel * DTYPE_SIZES[t.dtype];
  if (bytes.length !== expected) {
    throw new Error(
      `writeSafetensors: tensor "${name}" is ${t.dtype}${JSON.stringify(t.shape)} (${expected} bytes) but its data has ${bytes.length} bytes`,
    );
  }
  return bytes;
}

/**
 * Serializes tensors to the safetensors format: compact JSON header (`__metadata__`
 * first), padded with spaces to a multiple of 8 bytes as the reference implementation
 * does, then the tensors' data back to back in sorted-name order (code-unit order).
 * @param tensors by name. `data` holds the raw elements of `dtype` in platform order
 *   (e.g. Float32Array for F32, Uint16Array bits for F16/BF16, BigInt64Array for I64);
 *   for F16/BF16 a Float32Array is also accepted and converted (round to nearest even).
 * @param metadata optional string map stored as `__metadata__`.
 * @returns the file's bytes.
 * @throws Error on an unsupported dtype or a data length that does not match the shape.
 */
export function writeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`writeSafetensors: metadata value of "${k}" is not a string`);
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  const datas: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error('writeSafetensors: "__metadata__" is not a valid tensor name');
    const t = tensors[name]!;
    const bytes = tensorBytes(name, t);
    datas.push(bytes);
    parts.push(
      `${JSON.stringify(name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] })}`,
    );
    offset += bytes.length;
  }
  let headerText = `{${parts.join(',')}}`;
  let headerBytes = new TextEncoder().encode(headerText);
  const padding = (HEADER_ALIGNMENT - (headerBytes.length % HEADER_ALIGNMENT)) % HEADER_ALIGNMENT;
  if (padding > 0) {
    headerText += ' '.repeat(padding);
    headerBytes = new TextEncoder().encode(headerText);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const d of datas) {
    out.set(d, pos);
    pos += d.length;
  }
  return out;
}
