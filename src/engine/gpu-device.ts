/**
 * The GPU side of the engine: finds the adapter, creates the one `GPUDevice` every
 * onnxruntime session shares, and decides — from the manifest alone, before any weight is
 * downloaded — whether this device can run a package (features, buffer limits and a trial
 * allocation of the largest buffer the package needs).
 */
import { DeviceCapabilityError, type DeviceCapabilityReason } from '../errors.ts';
import { formatBytes } from '../format-bytes.ts';
import type { Manifest } from '../package/manifest.ts';
import { allocateTouched } from './memory-probe.ts';
import type { DeviceReport, DeviceShortfall } from './protocol.ts';
import { navigatorGpu, type GpuAdapter, type GpuDevice } from './webgpu-types.ts';

/** Limits requested at the adapter's maximum (onnxruntime's WebGPU EP asks for the same). */
const REQUESTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxBindGroups',
  'maxBindingsPerBindGroup',
] as const;

/** Features used when the adapter has them. */
const WANTED_FEATURES = ['shader-f16'] as const;

/**
 * Subgroups turn on onnxruntime's flash-attention kernel for MultiHeadAttention. That
 * kernel handles 8 or 16 keys per subgroup step; with 4-wide subgroups (SwiftShader,
 * some mobile GPUs) it reuses stale keys and the attention output drifts (measured here:
 * 2e-3 relative error instead of 5e-6). So subgroups are requested only where every
 * subgroup is at least 8 wide; elsewhere the exact (unfused) attention path runs.
 */
const MIN_SUBGROUP_SIZE_FOR_FLASH_ATTENTION = 8;

/** Whether the adapter's subgroups are safe for onnxruntime's flash attention. */
export function subgroupsUsable(adapter: Pick<GpuAdapter, 'features' | 'info'>): boolean {
  return adapter.features.has('subgroups') && (adapter.info?.subgroupMinSize ?? 0) >= MIN_SUBGROUP_SIZE_FOR_FLASH_ATTENTION;
}

/** An adapter and the device created on it. */
export interface GpuContext {
  adapter: GpuAdapter;
  device: GpuDevice;
  /** Resolves when the device is lost (or destroyed). */
  lost: Promise<void>;
  isLost: boolean;
}

/**
 * Requests the adapter and creates the shared device with the adapter's largest buffer
 * and workgroup limits.
 * @throws DeviceCapabilityError (`missing: ['webgpu']`) without WebGPU or an adapter
 */
export async function createGpuContext(): Promise<GpuContext> {
  const gpu = navigatorGpu();
  if (!gpu) throw new DeviceCapabilityError('This browser has no WebGPU (navigator.gpu is missing), so the model cannot run on this device.', ['webgpu']);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new DeviceCapabilityError('WebGPU is present but no GPU adapter is available (it may be disabled or blocklisted).', ['webgpu-adapter']);
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const requiredFeatures: string[] = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  if (subgroupsUsable(adapter)) requiredFeatures.push('subgroups');
  let device: GpuDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'flux-webgpu' });
  } catch (error) {
    throw new DeviceCapabilityError(`The GPU adapter refused to create a device: ${(error as Error).message}`, ['webgpu-device']);
  }
  const context: GpuContext = { adapter, device, isLost: false, lost: Promise.resolve() };
  context.lost = device.lost.then(() => {
    context.isLost = true;
  });
  return context;
}

/** What the adapter offers, for reports (no device needed). */
export async function describeAdapter(adapter: GpuAdapter): Promise<Omit<DeviceReport, 'model' | 'modelId' | 'shortfalls' | 'reasons' | 'ok' | 'maxPixels'>> {
  return {
    webgpu: true,
    adapter: {
      vendor: adapter.info?.vendor ?? '',
      architecture: adapter.info?.architecture ?? '',
      description: adapter.info?.description ?? '',
    },
    features: [...adapter.features].sort(),
    limits: { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize },
    shaderF16: adapter.features.has('shader-f16'),
    flashAttention: subgroupsUsable(adapter),
    crossOriginIsolated: Boolean((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated),
  };
}

/**
 * What the package needs that the adapter does not offer, from the manifest alone
 * (empty when it fits): `shader-f16` for fp16 graphs, `maxBufferSize` and
 * `maxStorageBufferBindingSize` for the largest weight buffer.
 */
export function requirementShortfalls(manifest: Manifest, adapter: Pick<GpuAdapter, 'features' | 'limits'>): DeviceShortfall[] {
  const shortfalls: DeviceShortfall[] = [];
  const { requirements } = manifest;
  const needsF16 = requirements.shaderF16 || manifest.graphs.some((g) => g.computePrecision === 'fp16');
  if (needsF16 && !adapter.features.has('shader-f16')) {
    shortfalls.push({ capability: 'shader-f16', needed: 1, available: 0, detail: 'the package computes in float16 and the GPU has no shader-f16 feature' });
  }
  const largest = requirements.largestWeightBufferBytes;
  for (const limit of ['maxBufferSize', 'maxStorageBufferBindingSize'] as const) {
    const available = adapter.limits[limit];
    if (largest > available) shortfalls.push({ capability: limit, needed: largest, available, detail: `the largest weight buffer is ${formatBytes(largest)}; the GPU allows ${formatBytes(available)}` });
  }
  return shortfalls;
}

/**
 * The largest image area in pixels the device's buffer limits allow for this package
 * (its largest activation grows with the pixel count), or Infinity when unknown.
 */
export function maxPixelsFor(manifest: Manifest, limits: { maxBufferSize: number; maxStorageBufferBindingSize: number }): number {
  const at1024 = manifest.requirements.largestActivationBytesAt1024;
  if (!(at1024 > 0)) return Infinity;
  const limit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  return Math.floor((limit / at1024) * 1024 * 1024);
}

/**
 * Creates (and frees) one buffer of `bytes` on the device, catching validation and
 * out-of-memory errors.
 * @returns the error message, or null when the allocation worked
 */
export async function trialAllocation(device: GpuDevice, bytes: number): Promise<string | null> {
  if (bytes <= 0) return null;
  const { buffer, error } = await allocateTouched(device, Math.ceil(bytes / 4) * 4, 'flux-webgpu trial allocation');
  buffer?.destroy();
  return error ?? null;
}

/**
 * Everything the device lacks for the package: features and limits from the manifest,
 * then (when those fit) a trial allocation of its largest weight buffer.
 */
export async function packageShortfalls(manifest: Manifest, gpu: GpuContext): Promise<DeviceShortfall[]> {
  const shortfalls = requirementShortfalls(manifest, gpu.device);
  if (shortfalls.length > 0) return shortfalls;
  const bytes = manifest.requirements.largestWeightBufferBytes;
  const failure = await trialAllocation(gpu.device, bytes);
  return failure ? [{ capability: 'gpu-memory', needed: bytes, available: 0, detail: `a trial allocation of ${formatBytes(bytes)} failed: ${failure}` }] : [];
}

/**
 * The error for a package (or a request) that does not fit, naming every shortfall.
 * @param reason default: from the shortfalls' capabilities (see `capabilityReason`)
 */
export function capabilityError(manifest: Manifest, shortfalls: DeviceShortfall[], reason?: DeviceCapabilityReason): DeviceCapabilityError {
  const reasons = shortfalls.map((s) => `${s.capability} (${s.detail})`).join('; ');
  return new DeviceCapabilityError(`This device cannot run ${manifest.modelId} locally: ${reasons}.`, shortfalls.map((s) => s.capability), reason);
}
