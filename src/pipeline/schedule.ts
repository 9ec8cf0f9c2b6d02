/**
 * Flow-matching Euler schedule of FLUX.1 [schnell] (diffusers
 * `FlowMatchEulerDiscreteScheduler` with shift 1 and no dynamic shifting):
 * sigmas = linspace(1, 1/N, N) then 0, all float32; the transformer gets timestep = sigma.
 */

/** The N+1 sigmas for `steps` steps (float32 values, last one 0). */
export function flowSigmas(steps: number, shift = 1): Float32Array {
  const sigmas = new Float32Array(steps + 1);
  // numpy.linspace(1, 1/N, N) in float64 (start + i·step, last value exact), then float32.
  const step = steps > 1 ? (1 / steps - 1) / (steps - 1) : 0;
  for (let i = 0; i < steps; i++) {
    const s = Math.fround(i === steps - 1 ? 1 / steps : i * step + 1);
    sigmas[i] = Math.fround((shift * s) / (1 + (shift - 1) * s));
  }
  return sigmas;
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
