/**
 * Memory plans without a GPU: per-plan needs from a manifest and a size, the plan chosen
 * for a given number of available bytes, the error numbers, and the prompt cache.
 */
import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../src/errors.ts';
import { gpuMemoryError, memoryReport } from '../src/engine/device-memory.ts';
import {
  checkMemoryOption,
  choosePlan,
  decodeBudgetBytes,
  planWithVaeTiles,
  graphActivationBytes,
  graphWeightBytes,
  largestWorkingSet,
  lighterPlan,
  memoryBudget,
  type MemoryBudget,
} from '../src/engine/memory-plan.ts';
import { PromptCache } from '../src/engine/prompt-cache.ts';
import { estimatedManifest } from '../src/convert/estimated-manifest.ts';
import { FLUX_SCHNELL_TEXT_ENCODER, FLUX_SCHNELL_TEXT_ENCODER_2, FLUX_SCHNELL_TRANSFORMER, FLUX_SCHNELL_VAE } from '../src/convert/flux-schnell-configs.ts';
import { estimatePackageWeightBytes } from '../src/convert/size-estimate.ts';

const GiB = 2 ** 30;
const fluxConfigs = { transformer: FLUX_SCHNELL_TRANSFORMER, vae: FLUX_SCHNELL_VAE, textEncoder: FLUX_SCHNELL_TEXT_ENCODER, textEncoder2: FLUX_SCHNELL_TEXT_ENCODER_2 };
const flux = estimatedManifest(fluxConfigs, 'q4');

/** A budget with the given per-plan needs (bytes). */
function budgetOf(resident: number, staged: number, streaming: number): MemoryBudget {
  const need = (plan: 'resident' | 'staged' | 'streaming', neededBytes: number) => ({ plan, neededBytes, weightBytes: neededBytes / 2, activationBytes: neededBytes / 2, peakStage: 'transformer' as const });
  return {
    width: 1024,
    height: 1024,
    plans: { resident: need('resident', resident), staged: need('staged', staged), streaming: need('streaming', streaming) },
    stageWeightBytes: { text: 3 * GiB, transformer: 9 * GiB, vae: 0.2 * GiB },
    vaeTilePx: null,
  };
}

describe('plan choice from budgets and available bytes', () => {
  const budget = budgetOf(20 * GiB, 11 * GiB, 6 * GiB);

  it('auto picks the fastest plan that fits', () => {
    expect(choosePlan(budget, { bytes: 24 * GiB, atLeast: false }).plan).toBe('resident');
    expect(choosePlan(budget, { bytes: 20 * GiB, atLeast: false }).plan).toBe('resident');
    expect(choosePlan(budget, { bytes: 16 * GiB, atLeast: false }).plan).toBe('staged');
    expect(choosePlan(budget, { bytes: 8 * GiB, atLeast: false }).plan).toBe('streaming');
  });

  it('says which plan and why, with the numbers', () => {
    const choice = choosePlan(budget, { bytes: 12 * GiB, atLeast: false });
    expect(choice).toMatchObject({ plan: 'staged', neededBytes: 11 * GiB, availableBytes: 12 * GiB, forced: false });
    expect(choice.reason).toBe('staged: 11.8 GB needed, 12.9 GB available (resident needs 21.5 GB)');
    expect(choosePlan(budget, { bytes: 30 * GiB, atLeast: true }).reason).toBe('resident: 21.5 GB needed, at least 32.2 GB available');
  });

  it('finds no plan below the lightest need, and the error carries the numbers', () => {
    const choice = choosePlan(budget, { bytes: 4 * GiB, atLeast: false });
    expect(choice.plan).toBeNull();
    expect(choice).toMatchObject({ neededBytes: 6 * GiB, availableBytes: 4 * GiB });
    expect(choice.reason).toMatch(/no memory plan fits: even streaming needs 6\.4 GB .* the GPU gave 4\.3 GB/);
    const error = gpuMemoryError('black-forest-labs/FLUX.1-schnell', choice);
    expect(error.name).toBe('DeviceCapabilityError');
    expect(error).toMatchObject({ missing: ['gpu-memory'], neededBytes: 6 * GiB, availableBytes: 4 * GiB });
    expect(error.message).toContain('6.4 GB');
  });

  it('runs a forced plan even when the prediction says it does not fit (an out-of-memory error then falls back)', () => {
    const choice = choosePlan(budget, { bytes: 8 * GiB, atLeast: false }, 'resident');
    expect(choice).toMatchObject({ plan: 'resident', forced: true });
    expect(choice.reason).toMatch(/chosen by the memory option; the prediction says it does not fit/);
    expect(choosePlan(budget, { bytes: 64 * GiB, atLeast: false }, 'streaming').plan).toBe('streaming');
  });

  it('falls back from resident to staged to streaming, then nothing', () => {
    expect(lighterPlan('resident')).toBe('staged');
    expect(lighterPlan('staged')).toBe('streaming');
    expect(lighterPlan('streaming')).toBeNull();
  });

  it('checks the memory option', () => {
    expect(checkMemoryOption(undefined)).toBe('auto');
    for (const option of ['auto', 'resident', 'staged', 'streaming']) expect(checkMemoryOption(option)).toBe(option);
    expect(() => checkMemoryOption('low')).toThrow(InvalidParameterError);
    expect(() => checkMemoryOption('low')).toThrow(/memory must be one of auto, resident, staged, streaming/);
  });

  it('reports every plan with whether it fits', () => {
    const available = { bytes: 12 * GiB, atLeast: false };
    const report = memoryReport(budget, available, choosePlan(budget, available));
    expect(report).toMatchObject({ plan: 'staged', availableBytes: 12 * GiB, availableAtLeast: false });
    expect([report.plans.resident.fits, report.plans.staged.fits, report.plans.streaming.fits]).toEqual([false, true, true]);
  });
});

describe('per-plan needs of the real FLUX.1 [schnell] q4 package (configs only)', () => {
  const budget = memoryBudget(flux, 1024, 1024);

  it('splits the package into the graphs the converter writes, with its weight bytes', () => {
    const stored = flux.graphs.reduce((sum, g) => sum + g.weightBytes, 0);
    expect(stored).toBe(estimatePackageWeightBytes(fluxConfigs, 'q4').total - 256 ** 2 * 8 - 77 ** 2 * 4);
    expect(flux.graphs.filter((g) => g.role === 'transformer-blocks').length).toBeGreaterThan(5);
    // Every data file stays within the converter's 1 GiB shard limit.
    for (const g of flux.graphs) expect(g.weightBytes).toBeLessThanOrEqual(2 ** 30);
  });

  it('needs less with each lighter plan; staged peaks in the transformer, streaming holds one graph', () => {
    const { resident, staged, streaming } = budget.plans;
    console.log('FLUX.1 [schnell] q4 at 1024²:', Object.fromEntries(Object.entries(budget.plans).map(([k, v]) => [k, `${(v.neededBytes / GiB).toFixed(2)} GiB (${v.peakStage})`])));
    expect(resident.neededBytes).toBeGreaterThan(staged.neededBytes);
    expect(staged.neededBytes).toBeGreaterThan(streaming.neededBytes);
    expect(resident.weightBytes).toBe(flux.graphs.reduce((sum, g) => sum + graphWeightBytes(flux, g), 0));
    expect(staged.weightBytes).toBe(budget.stageWeightBytes[staged.peakStage]);
    const largestGraph = Math.max(...flux.graphs.map((g) => graphWeightBytes(flux, g) + graphActivationBytes(flux, g, 1024, 1024)));
    expect(streaming.neededBytes).toBe(largestGraph);
    expect(largestWorkingSet(budget)).toBe(resident.neededBytes);
  });

  it('grows with the image size', () => {
    const small = memoryBudget(flux, 512, 512);
    for (const plan of ['resident', 'staged', 'streaming'] as const) expect(small.plans[plan].neededBytes).toBeLessThan(budget.plans[plan].neededBytes);
  });

  it('counts the VAE as the engine decodes it under a buffer limit: whole where it fits, else in tiles', () => {
    expect(budget.vaeTilePx).toBeNull();
    const vae = flux.graphs.find((g) => g.role === 'vae-decoder')!;
    // 1440² whole needs a 256-channel 1440² float32 feature map (2.1 GB): over a 1 GiB limit, so it tiles.
    const limited = memoryBudget(flux, 1440, 1440, { maxBufferBytes: 2 ** 30 });
    const whole = memoryBudget(flux, 1440, 1440);
    expect(whole.vaeTilePx).toBeNull();
    expect(limited.vaeTilePx).not.toBeNull();
    expect(limited.vaeTilePx! % 32).toBe(0);
    expect(graphActivationBytes(flux, vae, 1440, 1440, limited.vaeTilePx)).toBeLessThan(graphActivationBytes(flux, vae, 1440, 1440));
    expect(limited.plans.streaming.neededBytes).toBeLessThanOrEqual(whole.plans.streaming.neededBytes);
  });

  it('chooses VAE tiles from the budget only where they let a faster plan (or a forced one) fit', () => {
    const limits = { maxBufferBytes: 2 ** 31 };
    const whole = memoryBudget(flux, 1024, 1024, limits);
    const tiled = memoryBudget(flux, 1024, 1024, limits, 512);
    expect(tiled.vaeTilePx).toBe(512);
    expect(tiled.plans.streaming.neededBytes).toBeLessThan(whole.plans.streaming.neededBytes);
    // Plenty: the fastest plan with one whole decode.
    expect(planWithVaeTiles(flux, 1024, 1024, limits, { bytes: whole.plans.resident.neededBytes, atLeast: true })).toMatchObject({ choice: { plan: 'resident' }, budget: { vaeTilePx: null } });
    // Below streaming's whole-decode need: streaming still runs, with the VAE in tiles.
    const small = planWithVaeTiles(flux, 1024, 1024, limits, { bytes: (whole.plans.streaming.neededBytes + tiled.plans.streaming.neededBytes) / 2, atLeast: false });
    expect(small.choice.plan).toBe('streaming');
    expect(small.budget.vaeTilePx).not.toBeNull();
    expect(small.choice.neededBytes).toBeLessThanOrEqual(small.choice.availableBytes);
    // Between streaming and staged: streaming with the whole decode (tiles would not make staged fit).
    expect(planWithVaeTiles(flux, 1024, 1024, limits, { bytes: whole.plans.streaming.neededBytes, atLeast: false }).budget.vaeTilePx).toBeNull();
  });

  it('gives the VAE decode what the plan leaves of the available bytes', () => {
    expect(decodeBudgetBytes(budget, 'staged', 12 * GiB)).toBe(12 * GiB - budget.stageWeightBytes.vae - 64 * 1024);
    expect(decodeBudgetBytes(budget, 'resident', 12 * GiB)).toBe(0);
  });
});

describe('prompt cache', () => {
  it('remembers prompts per package, least recently used first out', () => {
    const cache = new PromptCache(2);
    const entry = (v: number) => ({ promptEmbeds: new Float32Array([v]), pooledPromptEmbeds: new Float32Array([v]), warnings: [] });
    cache.set('a/', 'one', entry(1));
    cache.set('a/', 'two', entry(2));
    expect(cache.get('b/', 'one')).toBeUndefined();
    expect(cache.get('a/', 'one')?.promptEmbeds[0]).toBe(1);
    cache.set('a/', 'three', entry(3));
    expect(cache.get('a/', 'two')).toBeUndefined();
    expect(cache.get('a/', 'three')?.promptEmbeds[0]).toBe(3);
    expect(cache.hits).toBe(2);
    cache.forget('a/');
    expect(cache.get('a/', 'one')).toBeUndefined();
  });
});
