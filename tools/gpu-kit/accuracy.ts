/**
 * The accuracy check every variant passes before its timing counts: the relative L2
 * error of its outputs against the CPU EP's output of its base package (same weights,
 * float32 activations, onnxruntime's CPU kernels), on the same inputs.
 *
 * Tolerances (relative L2 of the shard's own contribution, see `shardError`):
 * - float32 paths (another EP, another kernel or layout, explicit attention, graph
 *   capture): 1e-3. The same function in float32 with another summation order lands near
 *   1e-6–1e-5 per product; a few dozen chained products and a softmax stay far under 1e-3,
 *   while a wrong kernel lands near 1.
 * - reduced-precision paths (int8 activations for accuracy_level 4, fp16 activations):
 *   min(2e-2, ¼ × the q4 weight error of the same shard). int8 block quantisation of
 *   activations costs about 0.7 % per quantised product (absmax/127 steps, uniform error)
 *   and fp16 about 0.05 % per rounding, and a block chains two or three of them, so a
 *   correct kernel stays near 1e-2 or below; ¼ of the error that 4-bit weights already
 *   introduce (about 10 % for these weights) keeps the added error a small part of the
 *   error the default q4 package accepts.
 */
import type { InputData, ShardKind } from './kit-model.ts';
import { RESIDUAL_OF } from './kit-model.ts';

export const FLOAT32_TOLERANCE = 1e-3;
export const REDUCED_PRECISION_CAP = 2e-2;
export const REDUCED_PRECISION_SHARE = 0.25;

/**
 * ‖actual − reference‖ / ‖reference‖ over all outputs of a shard (sums in float64). For
 * residual outputs the input is subtracted from both first. NaN or ±∞ anywhere, a missing
 * output or a length mismatch gives Infinity.
 */
export function shardError(kind: ShardKind, actual: Record<string, Float32Array>, reference: Record<string, Float32Array>, inputs: Record<string, InputData>): number {
  let diff = 0;
  let norm = 0;
  for (const [name, ref] of Object.entries(reference)) {
    const out = actual[name];
    if (!out || out.length !== ref.length) return Infinity;
    const base = RESIDUAL_OF[kind]?.[name];
    const input = base ? (inputs[base].data as Float32Array) : undefined;
    for (let i = 0; i < ref.length; i++) {
      const r = input ? ref[i] - input[i] : ref[i];
      const a = input ? out[i] - input[i] : out[i];
      if (!Number.isFinite(a)) return Infinity;
      diff += (a - r) * (a - r);
      norm += r * r;
    }
  }
  if (norm === 0) return diff === 0 ? 0 : Infinity;
  return Math.sqrt(diff / norm);
}

/** The tolerance of a variant's check and why. */
export function toleranceFor(reducedPrecision: boolean, q4WeightError: number | undefined): { tolerance: number; rule: string } {
  if (!reducedPrecision) return { tolerance: FLOAT32_TOLERANCE, rule: 'float32 path: 1e-3' };
  if (q4WeightError === undefined || !Number.isFinite(q4WeightError)) return { tolerance: REDUCED_PRECISION_CAP, rule: 'reduced precision: 2e-2 (no q4 weight error measured)' };
  const share = REDUCED_PRECISION_SHARE * q4WeightError;
  return share < REDUCED_PRECISION_CAP
    ? { tolerance: share, rule: `reduced precision: ¼ × q4 weight error ${q4WeightError.toExponential(2)}` }
    : { tolerance: REDUCED_PRECISION_CAP, rule: 'reduced precision: cap 2e-2' };
}
