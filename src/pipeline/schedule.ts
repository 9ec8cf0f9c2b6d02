/**
 * Flow-matching Euler schedules of FLUX.1 (diffusers `FlowMatchEulerDiscreteScheduler`,
 * as FluxPipeline drives it), all in float32 as numpy computes them:
 * - [schnell] (`use_dynamic_shifting: false`, shift 1): sigmas = linspace(1, 1/N, N), then 0.
 * - [dev] (`use_dynamic_shifting: true`): the same linspace, shifted by the image's size:
 *   mu = linear in the image token count between (base_image_seq_len, base_shift) and
 *   (max_image_seq_len, max_shift), then σ' = exp(mu) / (exp(mu) + (1/σ − 1)); then 0.
 * The transformer gets timestep = sigma.
 */

/** The scheduler config fields used here (`scheduler/scheduler_config.json`). */
export interface FlowSchedulerConfig {
  use_dynamic_shifting?: boolean;
  shift?: number;
  base_image_seq_len?: number;
  max_image_seq_len?: number;
  base_shift?: number;
  max_shift?: number;
}

/** The N+1 sigmas for `steps` steps (float32 values, last one 0). */
export function flowSigmas(steps: number, shift = 1): Float32Array {
  const sigmas = new Float32Array(steps + 1);
  const base = linspaceSigmas(steps);
  for (let i = 0; i < steps; i++) {
    const s = base[i];
    sigmas[i] = Math.fround((shift * s) / (1 + (shift - 1) * s));
  }
  return sigmas;
}

/** numpy.linspace(1, 1/N, N) in float64 (start + i·step, last value exact), then float32. */
function linspaceSigmas(steps: number): Float32Array {
  const sigmas = new Float32Array(steps);
  const step = steps > 1 ? (1 / steps - 1) / (steps - 1) : 0;
  for (let i = 0; i < steps; i++) sigmas[i] = i === steps - 1 ? 1 / steps : i * step + 1;
  return sigmas;
}

/**
 * diffusers' `calculate_shift`: mu for an image of `imageTokens` packed latent tokens
 * ((H/16)·(W/16)), linear through (base_image_seq_len, base_shift) and (max_image_seq_len, max_shift).
 */
export function dynamicShiftMu(imageTokens: number, config: FlowSchedulerConfig): number {
  const baseLen = config.base_image_seq_len ?? 256;
  const maxLen = config.max_image_seq_len ?? 4096;
  const baseShift = config.base_shift ?? 0.5;
  const maxShift = config.max_shift ?? 1.15;
  const m = (maxShift - baseShift) / (maxLen - baseLen);
  const b = baseShift - m * baseLen;
  return imageTokens * m + b;
}

/**
 * The N+1 sigmas of the size-dependent ([dev]) schedule: exp(mu) / (exp(mu) + (1/σ − 1))
 * over linspace(1, 1/N, N), each operation rounded to float32 as numpy does.
 */
export function dynamicShiftSigmas(steps: number, mu: number): Float32Array {
  const base = linspaceSigmas(steps);
  const e = Math.fround(Math.exp(mu));
  const sigmas = new Float32Array(steps + 1);
  for (let i = 0; i < steps; i++) {
    const rest = Math.fround(Math.fround(1 / base[i]) - 1);
    sigmas[i] = Math.fround(e / Math.fround(e + rest));
  }
  return sigmas;
}

/**
 * The schedule a package's scheduler config asks for, for one image size.
 * @param config the package's scheduler config (absent: [schnell]'s plain linspace)
 * @param imageTokens packed latent tokens of the image, (H/16)·(W/16)
 */
export function scheduleSigmas(steps: number, config: FlowSchedulerConfig | undefined, imageTokens: number): Float32Array {
  if (config?.use_dynamic_shifting) return dynamicShiftSigmas(steps, dynamicShiftMu(imageTokens, config));
  return flowSigmas(steps, config?.shift ?? 1);
}

/**
 * What in a scheduler config this code cannot follow, or undefined when it can: plain
 * linspace with shift 1 ([schnell]) or dynamic shifting ([dev]); no Karras/exponential/beta
 * sigmas, no terminal shift, no inverted sigmas.
 */
export function scheduleConfigProblem(raw: Record<string, unknown>): { field: string; why: string } | undefined {
  if (raw._class_name !== undefined && raw._class_name !== 'FlowMatchEulerDiscreteScheduler') {
    return { field: '_class_name', why: `must be "FlowMatchEulerDiscreteScheduler" (got ${JSON.stringify(raw._class_name)})` };
  }
  for (const field of ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'invert_sigmas']) {
    if (raw[field] !== undefined && raw[field] !== false) return { field, why: `must be false (got ${JSON.stringify(raw[field])})` };
  }
  if (raw.shift_terminal !== undefined && raw.shift_terminal !== null) return { field: 'shift_terminal', why: `must be null (got ${JSON.stringify(raw.shift_terminal)})` };
  if (raw.use_dynamic_shifting !== undefined && typeof raw.use_dynamic_shifting !== 'boolean') {
    return { field: 'use_dynamic_shifting', why: `must be true or false (got ${JSON.stringify(raw.use_dynamic_shifting)})` };
  }
  if (raw.use_dynamic_shifting) {
    for (const field of ['base_image_seq_len', 'max_image_seq_len', 'base_shift', 'max_shift']) {
      const value = raw[field];
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) return { field, why: `must be a number (got ${JSON.stringify(value)})` };
    }
    if ((raw.max_image_seq_len ?? 4096) === (raw.base_image_seq_len ?? 256)) return { field: 'max_image_seq_len', why: 'must differ from base_image_seq_len' };
    return undefined;
  }
  if ((raw.shift ?? 1) !== 1) return { field: 'shift', why: `must be 1 without dynamic shifting (got ${JSON.stringify(raw.shift)}; only FLUX.1 [schnell]'s and [dev]'s schedules are supported)` };
  return undefined;
}

/** The timestep the transformer receives for a sigma: fround(fround(sigma·1000)/1000), as diffusers passes t/1000. */
export function modelTimestep(sigma: number): number {
  return Math.fround(Math.fround(sigma * 1000) / 1000);
}

/** In place: x += (σ_next − σ)·v, in float32. */
export function eulerStep(latents: Float32Array, velocity: Float32Array, sigma: number, sigmaNext: number): void {
  const dt = Math.fround(sigmaNext - sigma);
  for (let i = 0; i < latents.length; i++) latents[i] = latents[i] + dt * velocity[i];
}
