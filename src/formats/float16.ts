/**
 * IEEE 754 binary16 ("half", safetensors `F16`) and bfloat16 (`BF16`) conversions.
 *
 * No Node imports: runs in browsers, workers and Node alike. Byte arrays are
 * little-endian, as in safetensors and ONNX initializers, whatever the platform.
 */

const F32_VIEW = new Float32Array(1);
const U32_VIEW = new Uint32Array(F32_VIEW.buffer);

/** 2^-24, the smallest positive half subnormal. */
const HALF_MIN_SUBNORMAL = 5.960464477539063e-8;

/**
 * Decodes one IEEE binary16 value.
 * @param bits the 16 raw bits, an integer in [0, 0xFFFF] (higher bits are ignored).
 * @returns the exact value as a number (±0, subnormals, ±Infinity and NaN included).
 */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * HALF_MIN_SUBNORMAL;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/**
 * Encodes a number as IEEE binary16 bits, rounding to nearest, ties to even, directly
 * from the double value (no intermediate float32 rounding).
 * Values of magnitude >= 65520 become ±Infinity; magnitudes below 2^-25 (and exactly
 * 2^-25) become ±0; NaN becomes the quiet NaN 0x7E00 (sign kept).
 * @param x any number.
 * @returns the 16 raw bits, an integer in [0, 0xFFFF].
 */
export function f32ToF16(x: number): number {
  if (Number.isNaN(x)) {
    F32_VIEW[0] = x;
    return ((U32_VIEW[0]! >>> 16) & 0x8000) | 0x7e00;
  }
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // 65504 is the largest finite half; 65520 ties to Inf.
  if (a < 6.103515625e-5) {
    // Subnormal (or zero): multiples of 2^-24. a * 2^24 is exact in double.
    return sign | roundHalfEven(a * 16777216); // 1024 here is the smallest normal, 0x0400.
  }
  let e = Math.floor(Math.log2(a));
  // Math.log2 can be off by one near powers of two: fix e so that 2^e <= a < 2^(e+1).
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  // a / 2^e is in [1, 2) and exact; its fraction scaled by 1024 is exact as well.
  let mantissa = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    e += 1;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | mantissa;
}

/** Rounds a non-negative number to the nearest integer, ties to even. */
function roundHalfEven(v: number): number {
  const floor = Math.floor(v);
  const diff = v - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Encodes float32 bits (not a number) as binary16 bits with round-to-nearest-even.
 * Exact for every float32 input; used by the array conversions.
 */
function f32BitsToF16Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const e = (u >>> 23) & 0xff;
  const m = u & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m !== 0 ? 0x200 | (m >>> 13) : 0);
  const unbiased = e - 127;
  if (unbiased > 15) return sign | 0x7c00;
  if (unbiased >= -14) {
    let half = m >>> 13;
    const rest = m & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
    // A mantissa carry moves into the exponent, and 0x7c00 (Inf) on overflow: both correct.
    return sign | (((unbiased + 15) << 10) + half);
  }
  if (unbiased < -25) return sign;
  // Subnormal half: value / 2^-24 = M * 2^(unbiased + 1), with M the 24-bit significand.
  const significand = m | 0x800000;
  const shift = -(unbiased + 1); // 14..24
  let half = significand >>> shift;
  const rest = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1;
  return sign | half;
}

/**
 * Decodes one bfloat16 value (the top 16 bits of a float32).
 * @param bits the 16 raw bits, an integer in [0, 0xFFFF].
 * @returns the exact value as a number.
 */
export function bf16ToF32(bits: number): number {
  U32_VIEW[0] = (bits & 0xffff) << 16;
  return F32_VIEW[0]!;
}

/**
 * Encodes a number as bfloat16 bits: first rounded to float32, then to bfloat16 with
 * round-to-nearest-even (NaN stays a quiet NaN, overflow becomes ±Infinity).
 * @param x any number.
 * @returns the 16 raw bits, an integer in [0, 0xFFFF].
 */
export function f32ToBf16(x: number): number {
  F32_VIEW[0] = x;
  return f32BitsToBf16Bits(U32_VIEW[0]!);
}

function f32BitsToBf16Bits(u: number): number {
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | undefined;

/** The float32 value of every binary16 bit pattern (256 KiB, built on first use). */
function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table;
}

function checkEvenLength(bytes: Uint8Array, what: string): number {
  if (bytes.length % 2 !== 0) {
    throw new RangeError(`${what} data must be a whole number of 2-byte values (got ${bytes.length} bytes)`);
  }
  return bytes.length / 2;
}

/**
 * Decodes little-endian binary16 values.
 * @param bytes 2 bytes per value, little-endian; any byteOffset (no alignment needed).
 * @returns a new Float32Array of bytes.length / 2 values (exact: every half is a float32).
 */
export function float16BytesToFloat32(bytes: Uint8Array): Float32Array {
  const n = checkEvenLength(bytes, 'F16');
  const table = halfTable();
  const out = new Float32Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = table[bytes[j]! | (bytes[j + 1]! << 8)]!;
  return out;
}

/**
 * Decodes little-endian bfloat16 values.
 * @param bytes 2 bytes per value, little-endian; any byteOffset (no alignment needed).
 * @returns a new Float32Array of bytes.length / 2 values (exact).
 */
export function bfloat16BytesToFloat32(bytes: Uint8Array): Float32Array {
  const n = checkEvenLength(bytes, 'BF16');
  const out = new Float32Array(n);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0, j = 0; i < n; i++, j += 2) outBits[i] = ((bytes[j]! | (bytes[j + 1]! << 8)) << 16) >>> 0;
  return out;
}

/**
 * Encodes float32 values as little-endian binary16 (round to nearest, ties to even;
 * |x| >= 65520 becomes ±Infinity, tiny values become subnormals or ±0).
 * @param arr the values.
 * @returns a new Uint8Array of 2 * arr.length bytes.
 */
export function float32ToFloat16Bytes(arr: Float32Array): Uint8Array {
  const bits = new Uint32Array(arr.buffer, arr.byteOffset, arr.length);
  const out = new Uint8Array(arr.length * 2);
  for (let i = 0, j = 0; i < arr.length; i++, j += 2) {
    const h = f32BitsToF16Bits(bits[i]!);
    out[j] = h & 0xff;
    out[j + 1] = h >>> 8;
  }
  return out;
}

/**
 * Encodes float32 values as little-endian bfloat16 (round to nearest, ties to even).
 * @param arr the values.
 * @returns a new Uint8Array of 2 * arr.length bytes.
 */
export function float32ToBfloat16Bytes(arr: Float32Array): Uint8Array {
  const bits = new Uint32Array(arr.buffer, arr.byteOffset, arr.length);
  const out = new Uint8Array(arr.length * 2);
  for (let i = 0, j = 0; i < arr.length; i++, j += 2) {
    const h = f32BitsToBf16Bits(bits[i]!);
    out[j] = h & 0xff;
    out[j + 1] = h >>> 8;
  }
  return out;
}
