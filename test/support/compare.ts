/** Numeric comparisons used by the golden tests. */

/** ‖a − b‖ / ‖b‖. */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

/** max |a − b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** The q-th percentile (0–100) of |a − b| over all elements (e.g. pixel levels). */
export function percentileAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, q: number): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  const diffs = Float64Array.from({ length: a.length }, (_, i) => Math.abs(a[i] - b[i])).sort();
  return diffs[Math.min(diffs.length - 1, Math.floor((q / 100) * diffs.length))];
}

/** PSNR in dB of 8-bit images. */
export function psnr8(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let mse = 0;
  for (let i = 0; i < a.length; i++) mse += (a[i] - b[i]) ** 2;
  mse /= a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}
