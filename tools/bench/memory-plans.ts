/**
 * `npm run bench -- --only memory-plans`: the GPU memory each memory plan predicts for
 * the real FLUX.1 [schnell] package (from the published configs, through the converter's
 * sharding and size rules: `estimatedManifest`), per image size, and which consumer GPU
 * sizes each plan admits. Computed, not measured: the activation terms are the calibrated
 * estimates of src/engine/memory-plan.ts (the `browser` bench measures them on the demo
 * package; the `full-scale` bench at real width).
 */
import { graphActivationBytes, graphWeightBytes, memoryBudget, MEMORY_PLANS, planWithVaeTiles, type MemoryBudget } from '../../src/engine/memory-plan.ts';
import type { WeightPrecision } from '../../src/package/manifest.ts';
import { estimatedManifest } from '../../src/convert/estimated-manifest.ts';
import { FLUX_SCHNELL_TEXT_ENCODER, FLUX_SCHNELL_TEXT_ENCODER_2, FLUX_SCHNELL_TRANSFORMER, FLUX_SCHNELL_VAE } from '../../src/convert/flux-schnell-configs.ts';
import type { Bench, BenchOptions, BenchSummary } from './bench.ts';
import { table } from './measure.ts';

/** Consumer GPU memory sizes to check, GB (decimal, as sold). */
const GPU_SIZES_GB = [8, 12, 16, 24];
/**
 * Of a GPU's memory, what a browser tab can expect to get: the desktop, the browser's
 * compositor and other tabs hold some. A guess for the table only; the engine measures.
 */
const USABLE_SHARE = 0.9;
const SIZES = [512, 1024, 1440];
/** The buffer limit assumed for the VAE's tile choice: 2 GiB, a common desktop maxStorageBufferBindingSize. */
const VAE_LIMITS = { maxBufferBytes: 2 ** 31 };
/** The VAE tile the table's second block assumes. */
const TILE_PX = 512;

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;

/** The real package's per-plan needs at a size. */
export function fluxSchnellBudget(side: number, precision: WeightPrecision = 'q4'): MemoryBudget {
  const manifest = estimatedManifest({ transformer: FLUX_SCHNELL_TRANSFORMER, vae: FLUX_SCHNELL_VAE, textEncoder: FLUX_SCHNELL_TEXT_ENCODER, textEncoder2: FLUX_SCHNELL_TEXT_ENCODER_2 }, precision);
  return memoryBudget(manifest, side, side);
}

async function run(options: BenchOptions): Promise<BenchSummary> {
  const { log } = options;
  const manifest = estimatedManifest({ transformer: FLUX_SCHNELL_TRANSFORMER, vae: FLUX_SCHNELL_VAE, textEncoder: FLUX_SCHNELL_TEXT_ENCODER, textEncoder2: FLUX_SCHNELL_TEXT_ENCODER_2 }, 'q4');
  log(`FLUX.1 [schnell] q4 as the converter would write it: ${manifest.graphs.length} graphs, ${gb(manifest.graphs.reduce((s, g) => s + g.weightBytes, 0))} stored, ${gb(manifest.requirements.totalWeightBytes)} on the GPU`);
  log();
  log(table([
    ['graph', 'weights (GPU)', 'activations 1024²'],
    ...manifest.graphs.map((g) => [g.name, gb(graphWeightBytes(manifest, g)), gb(graphActivationBytes(manifest, g, 1024, 1024))]),
  ]));
  log();
  const rows: string[][] = [['size', 'VAE', 'plan', 'needed', 'weights', 'activations', 'peak stage', ...GPU_SIZES_GB.map((s) => `${s} GB`)]];
  const summary: BenchSummary = [];
  for (const tile of [undefined, TILE_PX]) {
    for (const side of SIZES) {
      const budget = memoryBudget(manifest, side, side, VAE_LIMITS, tile);
      for (const plan of MEMORY_PLANS) {
        const need = budget.plans[plan];
        const vae = budget.vaeTilePx === null ? 'whole' : `${budget.vaeTilePx}-px tiles`;
        rows.push([`${side}²`, vae, plan, gb(need.neededBytes), gb(need.weightBytes), gb(need.activationBytes), need.peakStage, ...GPU_SIZES_GB.map((s) => (need.neededBytes <= s * 1e9 * USABLE_SHARE ? 'yes' : 'no'))]);
        if (side === 1024) summary.push([`${plan} at 1024² (VAE ${vae})`, gb(need.neededBytes)]);
      }
    }
  }
  log(table(rows));
  log();
  log(`"yes": the plan's predicted peak fits ${USABLE_SHARE * 100}% of the GPU's memory (the rest assumed taken by the desktop and browser).`);
  log(`VAE "whole": one decode (its activations are ~6 of its largest feature maps, 1 GiB of 256 channels at 1024²); buffer limit ${gb(VAE_LIMITS.maxBufferBytes)}.`);
  // What 'auto' picks on each GPU: the fastest plan that fits, with VAE tiles where they make a faster plan fit.
  const admits = (side: number) =>
    GPU_SIZES_GB.map((s) => {
      const { budget, choice } = planWithVaeTiles(manifest, side, side, VAE_LIMITS, { bytes: s * 1e9 * USABLE_SHARE, atLeast: false });
      return `${s} GB: ${choice.plan ?? 'none'}${choice.plan && budget.vaeTilePx !== null ? ` (VAE in ${budget.vaeTilePx}-px tiles)` : ''}`;
    }).join(', ');
  for (const side of SIZES) {
    log(`auto at ${side}²: ${admits(side)}`);
    summary.push([`auto at ${side}²`, admits(side)]);
  }
  return summary;
}

export const memoryPlansBench: Bench = {
  name: 'memory-plans',
  description: 'predicted GPU bytes per memory plan for the real FLUX.1 [schnell] q4 package (configs only) and the consumer GPUs each plan admits',
  run,
};
