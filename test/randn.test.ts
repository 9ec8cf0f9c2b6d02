import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { readSafetensors } from '../src/formats/safetensors.ts';
import { Mt19937, TorchCpuGenerator, torchRandn } from '../src/pipeline/randn.ts';

const GOLDEN = new URL('../../shared/golden/', import.meta.url);
const TOLERANCE = 1e-5;

function maxAbsDiff(a: Float32Array, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= max)) max = d; // NaN-safe: a NaN difference becomes the max
  }
  return max;
}

/** Asserts the reference is a real normal sample, not zeros/constants. */
function expectNonTrivial(values: Float32Array): void {
  let sum = 0;
  let sumSq = 0;
  const distinct = new Set<number>();
  for (let i = 0; i < values.length; i++) {
    sum += values[i]!;
    sumSq += values[i]! * values[i]!;
    if (distinct.size < 100) distinct.add(values[i]!);
  }
  const mean = sum / values.length;
  const std = Math.sqrt(sumSq / values.length - mean * mean);
  expect(distinct.size).toBeGreaterThan(Math.min(50, values.length / 2));
  expect(Math.abs(mean)).toBeLessThan(0.2);
  expect(std).toBeGreaterThan(0.8);
  expect(std).toBeLessThan(1.2);
}

describe('Mt19937', () => {
  it('matches the standard mt19937 outputs for seed 5489', () => {
    const mt = new Mt19937(5489);
    const first = Array.from({ length: 5 }, () => mt.nextUint32());
    expect(first).toEqual([3499211612, 581869302, 3890346734, 3586334585, 545404204]);
    // The C++ standard requires the 10000th output of default-seeded std::mt19937.
    const mt2 = new Mt19937();
    let v = 0;
    for (let i = 0; i < 10000; i++) v = mt2.nextUint32();
    expect(v).toBe(4123659995);
  });

  it('uses only the low 32 bits of the seed, wrapping negatives', () => {
    const a = new Mt19937(5n + (1n << 32n));
    const b = new Mt19937(5);
    expect(a.nextUint32()).toBe(b.nextUint32());
    expect(new Mt19937(-1).nextUint32()).toBe(new Mt19937(0xffffffff).nextUint32());
    expect(() => new Mt19937(1.5)).toThrow(RangeError);
    expect(() => new Mt19937(1n << 64n)).toThrow(RangeError);
  });
});

describe('torchRandn against the golden files', () => {
  const golden = readSafetensors(readFileSync(new URL('randn.safetensors', GOLDEN)));

  it('has the expected keys', () => {
    expect(golden.size).toBeGreaterThanOrEqual(4);
  });

  for (const [key, tensor] of golden) {
    it(`matches ${key}`, () => {
      const match = /^seed(\d+)_(\d+(?:x\d+)*)$/.exec(key);
      expect(match, `key ${key} is seed{S}_{shape}`).not.toBeNull();
      const seed = BigInt(match![1]!);
      const shape = match![2]!.split('x').map(Number);
      expect(tensor.shape).toEqual(shape);
      const reference = tensor.data as Float32Array;
      expectNonTrivial(reference);
      const ours = torchRandn(shape, seed);
      expect(maxAbsDiff(ours, reference)).toBeLessThan(TOLERANCE);
    });
  }

  const runs = JSON.parse(readFileSync(new URL('tiny-flux-a/golden.json', GOLDEN), 'utf8')).runs as {
    name: string;
    seed: number;
    height: number;
    width: number;
  }[];
  for (const run of runs) {
    it(`matches the noise of tiny-flux-a ${run.name} (seed ${run.seed})`, () => {
      const expected = readSafetensors(readFileSync(new URL(`tiny-flux-a/expected/${run.name}.safetensors`, GOLDEN))).get('noise');
      expect(expected).toBeDefined();
      expect(expected!.shape).toEqual([1, 16, run.height / 8, run.width / 8]);
      const reference = expected!.data as Float32Array;
      expectNonTrivial(reference);
      expect(maxAbsDiff(torchRandn(expected!.shape, run.seed), reference)).toBeLessThan(TOLERANCE);
    });
  }
});

describe('torchRandn paths the golden files do not cover', () => {
  // Published outputs of real torch (printed to 4 decimals), all through at::mt19937.
  const PRINT_TOLERANCE = 5.01e-5;

  it('numel < 16 uses the double Box-Muller with the cached second sample', () => {
    // torch.manual_seed(0); torch.randn(4): float32 bit patterns.
    const bits = new Uint32Array(torchRandn([4], 0).buffer);
    expect(Array.from(bits)).toEqual([0x3fc53f5c, 0xbe963c50, 0xc00b7149, 0x3f1184b6]);
    // torch.manual_seed(42); torch.randn(2, 3)
    expect(maxAbsDiff(torchRandn([2, 3], 42), [0.3367, 0.1288, 0.2345, 0.2303, -1.1229, -0.1863])).toBeLessThan(PRINT_TOLERANCE);
    // torch.manual_seed(0); torch.randn(2, 3)
    expect(maxAbsDiff(torchRandn([2, 3], 0), [1.541, -0.2934, -2.1788, 0.5684, -1.0845, -1.3986])).toBeLessThan(PRINT_TOLERANCE);
  });

  it('the cache carries the sine of each pair to the next element', () => {
    const g = new TorchCpuGenerator(0);
    const u1 = g.uniformDouble();
    const u2 = g.uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const sample = torchRandn([2], 0);
    expect(sample[0]).toBe(Math.fround(r * Math.cos(2 * Math.PI * u1)));
    expect(sample[1]).toBe(Math.fround(r * Math.sin(2 * Math.PI * u1)));
    // An odd count leaves a cached value that the next call on the same generator uses.
    const gen = new TorchCpuGenerator(0);
    const first = gen.randn([3]);
    const next = gen.randn([1]);
    expect(Array.from(first)).toEqual(Array.from(torchRandn([3], 0)));
    expect(next[0]).toBe(torchRandn([4], 0)[3]);
  });

  it('numel >= 16 not a multiple of 16 redraws the last 16 values', () => {
    // torch.manual_seed(0); torch.randn(4, 5)
    expect(
      maxAbsDiff(torchRandn([4, 5], 0), [
        -1.1258, -1.1524, -0.2506, -0.4339, 0.5988, -1.5551, -0.3414, 1.853, 0.4681, -0.1577, 1.4437, 0.266, 1.3894, 1.5863,
        0.9463, -0.8437, 0.9318, 1.259, 2.005, 0.0537,
      ]),
    ).toBeLessThan(PRINT_TOLERANCE);
    // torch.manual_seed(0); torch.randn(3, 3, 3)
    expect(
      maxAbsDiff(torchRandn([3, 3, 3], 0), [
        -1.1258, -1.1524, -0.2506, -0.4339, 0.8487, 0.692, -0.316, -2.1152, 0.3223, -1.2633, 0.35, 0.266, 0.1665, 0.8744,
        -0.1435, -0.1116, -0.6136, 0.0316, -0.4927, 0.0537, 0.6181, -0.4128, -0.8411, -2.316, -0.1023, 0.7924, -0.2897,
      ]),
    ).toBeLessThan(PRINT_TOLERANCE);
    // torch.manual_seed(0); torch.randn(10, 4)
    expect(
      maxAbsDiff(torchRandn([10, 4], 0), [
        -1.1258, -1.1524, -0.2506, -0.4339, 0.8487, 0.692, -0.316, -2.1152, 0.3223, -1.2633, 0.35, 0.3081, 0.1198, 1.2377,
        1.1168, -0.2473, -1.3527, -1.6959, 0.5667, 0.7935, 0.5988, -1.5551, -0.3414, 1.853, -0.2159, -0.7425, 0.5627,
        0.2596, -0.174, -0.6787, 0.9383, 0.4889, 1.2032, 0.0845, -1.2001, -0.0048, -0.5181, -0.3067, -1.581, 1.7066,
      ]),
    ).toBeLessThan(PRINT_TOLERANCE);
  });

  it('the scalar kernel stays within 1e-5 of the AVX2 one', () => {
    const a = torchRandn([1, 16, 9, 7], 1234);
    const b = torchRandn([1, 16, 9, 7], 1234, { kernel: 'scalar' });
    expect(maxAbsDiff(a, b)).toBeLessThan(TOLERANCE);
  });

  it('handles empty shapes and rejects bad ones', () => {
    expect(torchRandn([0, 3], 1).length).toBe(0);
    expect(torchRandn([], 0).length).toBe(1);
    expect(() => torchRandn([2, -1], 0)).toThrow(RangeError);
  });
});
