/**
 * The engine's view of GPU memory on its device: counts every buffer (the counting
 * wrapper), measures what the device can give with the bounded probe (once per device,
 * extended only when a larger working set is asked about), and turns a package's per-plan
 * needs at a size into a plan choice and a report.
 */
import { DeviceCapabilityError } from '../errors.ts';
import type { Manifest } from '../package/manifest.ts';
import type { GpuContext } from './gpu-device.ts';
import { countGpuMemory, type GpuMemoryCounter } from './gpu-memory-counter.ts';
import type { VaeTileLimits } from '../pipeline/vae-tiling.ts';
import { decodeBudgetBytes, largestWorkingSet, memoryBudget, plannedVaeTile, planWithVaeTiles, MEMORY_PLANS, type AvailableMemory, type MemoryBudget, type MemoryOption, type MemoryPlan, type PlanChoice } from './memory-plan.ts';
import { probeGpuMemory } from './memory-probe.ts';
import type { DeviceMemoryReport } from './protocol.ts';
import type { GpuDevice } from './webgpu-types.ts';

/**
 * Tests: make the GPU look smaller than it is. `probeBytes` caps what the allocation
 * probe finds (so plans are chosen as on a GPU of that size); `allocationBytes` makes
 * every allocation beyond it fail as out-of-memory (to exercise the fallbacks).
 */
export interface GpuMemoryCap {
  probeBytes?: number;
  allocationBytes?: number;
}

interface ProbeMemo {
  device: GpuDevice;
  /** Bytes our own buffers held when the probe ran, plus what the probe got. */
  totalBytes: number;
  atLeast: boolean;
}

/** GPU memory accounting and plan choice for one engine. */
export class DeviceMemory {
  private memo?: ProbeMemo;

  constructor(private readonly cap: GpuMemoryCap = {}) {}

  /** Counts the context's device (idempotent); every buffer onnxruntime makes goes through it. */
  counter(gpu: GpuContext): GpuMemoryCounter {
    return countGpuMemory(gpu.device, this.cap.allocationBytes ?? Infinity);
  }

  /**
   * Bytes the device can give this engine, measured at most up to `ceilingBytes` (the
   * largest working set a request could need) and remembered for the device's lifetime.
   */
  async available(gpu: GpuContext, ceilingBytes: number): Promise<AvailableMemory> {
    const memo = this.memo?.device === gpu.device ? this.memo : undefined;
    if (memo && (!memo.atLeast || memo.totalBytes >= ceilingBytes)) return { bytes: memo.totalBytes, atLeast: memo.atLeast };
    const live = this.counter(gpu).snapshot().liveBytes;
    const capBytes = this.cap.probeBytes === undefined ? undefined : Math.max(0, this.cap.probeBytes - live);
    const probe = await probeGpuMemory(gpu.device, Math.max(0, ceilingBytes - live), { capBytes });
    this.memo = { device: gpu.device, totalBytes: live + probe.bytes, atLeast: probe.atLeast };
    return { bytes: this.memo.totalBytes, atLeast: this.memo.atLeast };
  }

  /**
   * Per-plan needs at the size, the probed bytes (up to the largest need; a forced plan's
   * own), and the plan to run with the VAE tile it assumes (see `planWithVaeTiles`).
   */
  async plan(manifest: Manifest, gpu: GpuContext, width: number, height: number, option: MemoryOption): Promise<{ budget: MemoryBudget; available: AvailableMemory; choice: PlanChoice }> {
    const limits = vaeLimitsOf(gpu);
    const whole = memoryBudget(manifest, width, height, limits);
    // A forced plan needs to know only whether its own working set fits.
    const available = await this.available(gpu, option === 'auto' ? largestWorkingSet(whole) : whole.plans[option].neededBytes);
    return { ...planWithVaeTiles(manifest, width, height, limits, available, option), available };
  }

  /** What the probe measured on this device so far (nothing is allocated), or undefined. */
  measured(gpu: GpuContext): AvailableMemory | undefined {
    const memo = this.memo?.device === gpu.device ? this.memo : undefined;
    return memo ? { bytes: memo.totalBytes, atLeast: memo.atLeast } : undefined;
  }

  /** Forgets the probe (after the device was lost). */
  reset(): void {
    this.memo = undefined;
  }
}

/** What the VAE's tile choice must respect on this device: its largest buffer. */
export function vaeLimitsOf(gpu: GpuContext): VaeTileLimits {
  return { maxBufferBytes: Math.min(gpu.device.limits.maxBufferSize, gpu.device.limits.maxStorageBufferBindingSize) };
}

/**
 * The VAE tile to decode with under the chosen plan: the one the prediction assumed where
 * the plan fits; where a forced plan does not, the tile that fits the bytes left after the
 * weights alive during the decode (smaller tiles, less memory), if any.
 */
export function decodeTileFor(manifest: Manifest, gpu: GpuContext, budget: MemoryBudget, choice: PlanChoice): number | null {
  if (!choice.plan || choice.neededBytes <= choice.availableBytes) return budget.vaeTilePx;
  const limits = { ...vaeLimitsOf(gpu), budgetBytes: decodeBudgetBytes(budget, choice.plan, choice.availableBytes) };
  const tile = plannedVaeTile(manifest, budget.width, budget.height, limits);
  return tile === null ? null : Math.min(tile, budget.vaeTilePx ?? Infinity);
}

/** The memory part of a device report. */
export function memoryReport(budget: MemoryBudget, available: AvailableMemory, choice: PlanChoice): DeviceMemoryReport {
  const plans = Object.fromEntries(
    MEMORY_PLANS.map((plan) => {
      const need = budget.plans[plan];
      return [plan, { neededBytes: need.neededBytes, weightBytes: need.weightBytes, activationBytes: need.activationBytes, peakStage: need.peakStage, fits: need.neededBytes <= available.bytes }];
    }),
  ) as DeviceMemoryReport['plans'];
  return { width: budget.width, height: budget.height, vaeTilePx: budget.vaeTilePx, availableBytes: available.bytes, availableAtLeast: available.atLeast, plans, plan: choice.plan, reason: choice.reason };
}

/** The error for a request no plan can hold: `missing: ['gpu-memory']` with the numbers. */
export function gpuMemoryError(modelId: string, choice: Pick<PlanChoice, 'reason' | 'neededBytes' | 'availableBytes'>): DeviceCapabilityError {
  return new DeviceCapabilityError(
    `This device cannot run ${modelId} locally: ${choice.reason}.`,
    ['gpu-memory'],
    'gpu-memory',
    { neededBytes: choice.neededBytes, availableBytes: choice.availableBytes },
  );
}
