/**
 * Bit-faithful reproduction of PyTorch's CPU `torch.randn` (float32) for a generator
 * seeded with `torch.Generator().manual_seed(seed)`, so a seed gives the same image
 * here as in diffusers.
 *
 * PyTorch (aten/src/ATen/native/cpu/DistributionTemplates.h, `normal_kernel`):
 * - numel >= 16 (contiguous float32): `normal_fill` (`normal_fill_AVX2` on x86-64 with
 *   AVX2). Every element first gets a float uniform `(u32 & 0xFFFFFF) * 2^-24` (one
 *   mt19937 draw each); then each full block of 16 is Box-Muller'd in place
 *   (`normal_fill_16`); if numel % 16 != 0, 16 fresh uniforms are drawn into the last 16
 *   slots and that block is Box-Muller'd again.
 * - numel < 16: per element `at::normal_distribution<double>`, which draws two double
 *   uniforms from `random64()` and caches the second Box-Muller value (r·sin θ) in the
 *   generator for the next element.
 *
 * No Node imports.
 */

const MT_N = 624;
const MT_M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

/** 2^-24: float uniform step. */
const TWO_POW_M24 = 1 / 16777216;
/** 2^-53: double uniform step. */
const TWO_POW_M53 = 1 / 9007199254740992;
const TWO_POW_32 = 4294967296;

/**
 * Converts a seed as torch's `Generator.manual_seed` takes it (an integer in
 * [-2^63, 2^64 - 1]; negatives wrap as two's complement) to the 32 bits mt19937 uses.
 */
function seedLow32(seed: number | bigint): number {
  let big: bigint;
  if (typeof seed === 'bigint') {
    big = seed;
  } else {
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer (got ${seed})`);
    big = BigInt(seed);
  }
  if (big < -(1n << 63n) || big >= 1n << 64n) {
    throw new RangeError(`seed must be in [-2^63, 2^64 - 1] (got ${big})`);
  }
  return Number(BigInt.asUintN(32, big));
}

/** The 32-bit Mersenne Twister (MT19937), seeded exactly as `at::mt19937` and std::mt19937. */
export class Mt19937 {
  private readonly state = new Uint32Array(MT_N);
  private index = MT_N;

  /**
   * @param seed only the low 32 bits are used (as torch does for a 64-bit seed);
   *   negative values wrap as two's complement. Default 5489, the standard default.
   */
  constructor(seed: number | bigint = 5489) {
    const s0 = seedLow32(seed);
    const st = this.state;
    st[0] = s0;
    for (let i = 1; i < MT_N; i++) {
      const prev = st[i - 1]!;
      st[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
    this.index = MT_N;
  }

  private twist(): void {
    const st = this.state;
    for (let i = 0; i < MT_N; i++) {
      const y = (st[i]! & UPPER_MASK) | (st[(i + 1) % MT_N]! & LOWER_MASK);
      let v = st[(i + MT_M) % MT_N]! ^ (y >>> 1);
      if (y & 1) v ^= MATRIX_A;
      st[i] = v >>> 0;
    }
    this.index = 0;
  }

  /** @returns the next output, an integer in [0, 2^32 - 1]. */
  nextUint32(): number {
    if (this.index >= MT_N) this.twist();
    let y = this.state[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/**
 * A CPU `torch.Generator` for normal sampling: mt19937 plus the cached second
 * Box-Muller sample of `at::normal_distribution<double>` (reset by seeding, like
 * `manual_seed`). Successive `randn` calls continue the stream as torch does.
 */
export class TorchCpuGenerator {
  private mt: Mt19937;
  private nextDoubleNormal: number | undefined;

  /** @param seed as `torch.Generator().manual_seed(seed)`; integer in [-2^63, 2^64 - 1]. */
  constructor(seed: number | bigint) {
    this.mt = new Mt19937(seed);
  }

  /** Re-seeds, as `manual_seed`, also clearing the cached normal sample. */
  manualSeed(seed: number | bigint): void {
    this.mt = new Mt19937(seed);
    this.nextDoubleNormal = undefined;
  }

  /** `random()`: one mt19937 output, integer in [0, 2^32 - 1]. */
  random(): number {
    return this.mt.nextUint32();
  }

  /** `uniform_real_distribution<float>(0, 1)`: a multiple of 2^-24 in [0, 1). */
  uniformFloat(): number {
    return (this.mt.nextUint32() & 0xffffff) * TWO_POW_M24;
  }

  /**
   * `uniform_real_distribution<double>(0, 1)`: random64() = (first << 32) | second,
   * masked to 53 bits, times 2^-53; in [0, 1).
   */
  uniformDouble(): number {
    const hi = this.mt.nextUint32();
    const lo = this.mt.nextUint32();
    return ((hi & 0x1fffff) * TWO_POW_32 + lo) * TWO_POW_M53;
  }

  /** `at::normal_distribution<double>(0, 1)` with the generator's cached second sample. */
  normalDouble(): number {
    if (this.nextDoubleNormal !== undefined) {
      const cached = this.nextDoubleNormal;
      this.nextDoubleNormal = undefined;
      return cached;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.nextDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /**
   * `torch.randn(shape, generator=this)` on the CPU, float32, contiguous.
   * @param shape non-negative integer dimensions.
   * @param options kernel: which torch `normal_fill_16` to reproduce (default 'avx2').
   * @returns numel standard-normal float32 values, row-major.
   */
  randn(shape: readonly number[], options: RandnOptions = {}): Float32Array {
    let numel = 1;
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`shape ${JSON.stringify(shape)} must hold non-negative integers`);
      numel *= d;
    }
    const out = new Float32Array(numel);
    if (numel >= 16) {
      this.normalFill(out, options.kernel === 'scalar' ? normalFill16Scalar : normalFill16Avx2);
    } else {
      for (let i = 0; i < numel; i++) out[i] = this.normalDouble();
    }
    return out;
  }

  /** `normal_fill`: uniforms for all, Box-Muller per 16-block, tail block redrawn. */
  private normalFill(data: Float32Array, fill16: (data: Float32Array, offset: number) => void): void {
    const size = data.length;
    for (let i = 0; i < size; i++) data[i] = this.uniformFloat();
    for (let i = 0; i < size - 15; i += 16) fill16(data, i);
    if (size % 16 !== 0) {
      const start = size - 16;
      for (let i = 0; i < 16; i++) data[start + i] = this.uniformFloat();
      fill16(data, start);
    }
  }
}

const fround = Math.fround;

/** Which `normal_fill_16` kernel torch ran; see {@link RandnOptions.kernel}. */
export type NormalFillKernel = 'avx2' | 'scalar';

/** Options of torchRandn / TorchCpuGenerator.randn. */
export interface RandnOptions {
  /**
   * The `normal_fill_16` variant to reproduce for numel >= 16:
   * - 'avx2' (default): `normal_fill_16_AVX2`, which x86-64 builds of torch run on CPUs
   *   with AVX2: theta = float(2π)·u2 in float, and avx_mathfun's `log256_ps` /
   *   `sincos256_ps` polynomials with the FMA contractions GCC forms. Bit-exact against
   *   the golden files.
   * - 'scalar': the portable `normal_fill_16` (libm logf/cosf/sinf, theta computed in
   *   double), which e.g. aarch64 builds run; within ~1 ulp of those.
   */
  kernel?: NormalFillKernel;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** The float32 closest to 2π: `_mm256_set1_ps(2.0f * c10::pi<double>)`. */
const TWO_PI_F = fround(2 * Math.PI);

/**
 * Correctly rounded float32 fused multiply-add fl(a·b + c) for float32 inputs.
 * a·b is exact in double (48 bits); the sum is made exact with TwoSum, and the one case
 * where rounding the double sum to float can go wrong (a tie) is settled by the error.
 */
function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const bv = s - p;
  const err = p - (s - bv) + (c - bv);
  const r = fround(s);
  if (err === 0 || r === s) return r;
  const d = s - r;
  const mirror = r + 2 * d;
  if (fround(mirror) !== mirror) return r; // s is not halfway between two floats
  // s is exactly halfway: the exact value lies on err's side of it.
  return (err > 0) === (d > 0) ? mirror : r;
}

const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(fround);
const LOG_Q1 = fround(-2.1219444e-4);
const LOG_Q2 = fround(0.693359375);
const SQRTHF = fround(0.707106781186547524);
const MIN_NORM_POS = 1.1754943508222875e-38;

/**
 * avx_mathfun `log256_ps` for one lane (x > 0, float32), with GCC's contractions:
 * the Horner steps y·x + p, y·z + e·q1, y − z·0.5 and (x + y) + e·q2 become FMAs.
 */
function log256(x0: number): number {
  if (!(x0 > 0)) return NaN;
  F32[0] = Math.max(x0, MIN_NORM_POS);
  const exponentBits = U32[0]! >>> 23;
  U32[0] = (U32[0]! & ~0x7f800000) | 0x3f000000; // mantissa with exponent of 0.5
  let x = F32[0]!;
  let e = fround(fround(exponentBits - 0x7f) + 1);
  const small = x < SQRTHF;
  const tmp = small ? x : 0;
  x = fround(x - 1);
  if (small) e = fround(e - 1);
  x = fround(x + tmp);
  const z = fround(x * x);
  let y = LOG_P[0]!;
  for (let k = 1; k < 9; k++) y = fmaf(y, x, LOG_P[k]!);
  y = fround(y * x);
  y = fmaf(y, z, fround(e * LOG_Q1));
  y = fmaf(-z, 0.5, y);
  return fmaf(e, LOG_Q2, fround(x + y));
}

const FOPI = fround(1.27323954473516);
const MINUS_DP1 = fround(-0.78515625);
const MINUS_DP2 = fround(-2.4187564849853515625e-4);
const MINUS_DP3 = fround(-3.77489497744594108e-8);
const SINCOF_P0 = fround(-1.9515295891e-4);
const SINCOF_P1 = fround(8.3321608736e-3);
const SINCOF_P2 = fround(-1.6666654611e-1);
const COSCOF_P0 = fround(2.443315711809948e-5);
const COSCOF_P1 = fround(-1.388731625493765e-3);
const COSCOF_P2 = fround(4.166664568298827e-2);

/** Output of sincos256 (reused to avoid allocation). */
const SINCOS: [number, number] = [0, 0];

/**
 * avx_mathfun `sincos256_ps` for one lane (float32 x), with GCC's contractions (the
 * Cody-Waite reduction steps, the Horner steps, c·z − z·0.5 and s·x + x become FMAs).
 * Writes [sin, cos] into SINCOS.
 */
function sincos256(xIn: number): void {
  const negative = xIn < 0;
  let x = Math.abs(xIn);
  const j = (Math.trunc(fround(x * FOPI)) + 1) & ~1;
  const y = j; // exact small integer
  const swapSinSign = (j & 4) !== 0;
  const usePolySinForSin = (j & 2) === 0;
  const cosNegative = (~(j - 2) & 4) !== 0;
  x = fmaf(y, MINUS_DP1, x);
  x = fmaf(y, MINUS_DP2, x);
  x = fmaf(y, MINUS_DP3, x);
  const z = fround(x * x);
  let c = fmaf(COSCOF_P0, z, COSCOF_P1);
  c = fmaf(c, z, COSCOF_P2);
  c = fround(c * z);
  c = fmaf(c, z, -fround(z * 0.5));
  c = fround(c + 1);
  let s = fmaf(SINCOF_P0, z, SINCOF_P1);
  s = fmaf(s, z, SINCOF_P2);
  s = fround(s * z);
  s = fmaf(s, x, x);
  let sin = usePolySinForSin ? s : c;
  let cos = usePolySinForSin ? c : s;
  if (negative !== swapSinSign) sin = -sin;
  if (cosNegative) cos = -cos;
  SINCOS[0] = sin;
  SINCOS[1] = cos;
}

/** `normal_fill_16_AVX2` (mean 0, std 1) on data[offset .. offset + 16). */
function normalFill16Avx2(data: Float32Array, offset: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = fround(1 - data[offset + j]!);
    const u2 = data[offset + j + 8]!;
    const radius = fround(Math.sqrt(fround(-2 * log256(u1))));
    sincos256(fround(TWO_PI_F * u2));
    data[offset + j] = fround(radius * SINCOS[1]);
    data[offset + j + 8] = fround(radius * SINCOS[0]);
  }
}

/**
 * Portable `normal_fill_16` with float arithmetic (mean 0, std 1): rounds to float32
 * wherever the C++ `float` code does; theta is computed in double and stored to float.
 */
function normalFill16Scalar(data: Float32Array, offset: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = fround(1 - data[offset + j]!);
    const u2 = data[offset + j + 8]!;
    const radius = fround(Math.sqrt(fround(-2 * fround(Math.log(u1)))));
    const theta = fround(2 * Math.PI * u2);
    data[offset + j] = fround(radius * fround(Math.cos(theta)));
    data[offset + j + 8] = fround(radius * fround(Math.sin(theta)));
  }
}

/**
 * Reproduces `torch.randn(shape, generator=torch.Generator().manual_seed(seed))` on the
 * CPU in float32. With the default AVX2 kernel the result is bit-exact against torch on
 * x86-64 for numel >= 16; for numel < 16 (double Box-Muller) it may differ from torch by
 * 1 float32 ulp where JS and glibc round log1p/sin/cos differently.
 * @param shape non-negative integer dimensions, e.g. [1, 16, 128, 128].
 * @param seed integer in [-2^63, 2^64 - 1]; only its low 32 bits matter, as in torch.
 * @param options kernel: which torch `normal_fill_16` to reproduce (default 'avx2').
 * @returns numel standard-normal float32 values, row-major.
 */
export function torchRandn(shape: readonly number[], seed: number | bigint, options: RandnOptions = {}): Float32Array {
  return new TorchCpuGenerator(seed).randn(shape, options);
}
