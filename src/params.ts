/**
 * Validation of generation parameters. Out-of-range input is an error naming the field
 * and the allowed range; nothing is silently clamped.
 */
import { LIMITS } from './defaults.ts';
import { InvalidParameterError } from './errors.ts';

/**
 * Checks an image side in pixels: an integer multiple of 16 within `range`.
 * @param field the name to report (e.g. "--width" or "width")
 */
export function checkImageSide(field: string, value: number, range: { min: number; max: number } = LIMITS.cliSize): number {
  if (!Number.isInteger(value) || value < range.min || value > range.max || value % LIMITS.sizeMultiple !== 0) {
    throw new InvalidParameterError(field, `a multiple of ${LIMITS.sizeMultiple} from ${range.min} to ${range.max}`, value);
  }
  return value;
}

/** Checks a step count: an integer within 1–50. */
export function checkSteps(field: string, value: number): number {
  const { min, max } = LIMITS.steps;
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidParameterError(field, `an integer from ${min} to ${max}`, value);
  return value;
}

/** Checks a guidance scale: a number within 1.5–5 (BFL's `/flux-dev` range). */
export function checkGuidance(field: string, value: unknown): number {
  const { min, max } = LIMITS.guidance;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) throw new InvalidParameterError(field, `a number from ${min} to ${max}`, value);
  return value;
}

/** Whether a step count is past what schnell is distilled for (worth a warning, not an error). */
export function stepsBeyondRecommended(steps: number): boolean {
  return steps > LIMITS.steps.recommendedMax;
}

/** Checks a seed: an integer within 0–4294967295. */
export function checkSeed(field: string, value: number): number {
  const { min, max } = LIMITS.seed;
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidParameterError(field, `an integer from ${min} to ${max}`, value);
  return value;
}

/** A uniformly random seed in 0–4294967295 (from crypto when available). */
export function randomSeed(): number {
  const buffer = new Uint32Array(1);
  globalThis.crypto.getRandomValues(buffer);
  return buffer[0];
}

/** Checks a prompt: 1–10000 characters (after trimming it must not be empty). */
export function checkPrompt(field: string, value: unknown): string {
  const { minChars, maxChars } = LIMITS.prompt;
  if (typeof value !== 'string' || value.trim().length < minChars || value.length > maxChars) {
    throw new InvalidParameterError(field, `text of ${minChars} to ${maxChars} characters`, typeof value === 'string' ? `${value.length} characters` : value);
  }
  return value;
}
