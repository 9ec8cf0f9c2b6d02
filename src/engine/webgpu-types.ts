/**
 * The few WebGPU types the engine touches. TypeScript's DOM library has no WebGPU
 * declarations and the project does not depend on `@webgpu/types`, so they are declared
 * here, locally (no global augmentation), as structural subsets of the spec's interfaces.
 */

/** `GPUSupportedLimits`, the members the engine reads (all in bytes or counts). */
export interface GpuLimits {
  readonly maxBufferSize: number;
  readonly maxStorageBufferBindingSize: number;
  readonly [limit: string]: number;
}

/** `GPUAdapterInfo`. */
export interface GpuAdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** Smallest/largest subgroup width (Chromium 134+), when the adapter reports it. */
  readonly subgroupMinSize?: number;
  readonly subgroupMaxSize?: number;
}

/** `GPUBuffer`. */
export interface GpuBuffer {
  readonly size: number;
  destroy(): void;
}

/** `GPUError`. */
export interface GpuError {
  readonly message: string;
}

/** `GPUDeviceLostInfo`. */
export interface GpuDeviceLostInfo {
  readonly reason: 'unknown' | 'destroyed';
  readonly message: string;
}

/** `GPUDevice`. */
export interface GpuDevice {
  readonly limits: GpuLimits;
  readonly features: ReadonlySet<string>;
  readonly lost: Promise<GpuDeviceLostInfo>;
  readonly queue: { writeBuffer(buffer: GpuBuffer, offset: number, data: ArrayBufferView): void; onSubmittedWorkDone(): Promise<void> };
  createBuffer(descriptor: { size: number; usage: number; mappedAtCreation?: boolean; label?: string }): GpuBuffer;
  pushErrorScope(filter: 'validation' | 'out-of-memory' | 'internal'): void;
  popErrorScope(): Promise<GpuError | null>;
  destroy(): void;
}

/** `GPUAdapter`. */
export interface GpuAdapter {
  readonly features: ReadonlySet<string>;
  readonly limits: GpuLimits;
  readonly info?: GpuAdapterInfo;
  requestDevice(descriptor?: { requiredFeatures?: string[]; requiredLimits?: Record<string, number>; label?: string }): Promise<GpuDevice>;
}

/** `GPU` (`navigator.gpu`). */
export interface Gpu {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<GpuAdapter | null>;
}

/** `GPUBufferUsage` flags the engine uses. */
export const GPU_BUFFER_USAGE = { COPY_DST: 0x0008, STORAGE: 0x0080 } as const;

/** `navigator.gpu`, or undefined where the browser has no WebGPU. */
export function navigatorGpu(): Gpu | undefined {
  return (globalThis.navigator as unknown as { gpu?: Gpu } | undefined)?.gpu;
}
