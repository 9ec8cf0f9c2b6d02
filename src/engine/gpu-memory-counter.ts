/**
 * Counted GPU memory: the GPUDevice handed to onnxruntime is wrapped (its own
 * `createBuffer`, and each buffer's `destroy`, are replaced on the instance) so that
 * every buffer created and destroyed through it is counted.
 *
 * onnxruntime-web's native WebGPU EP (emdawnwebgpu) keeps the JS `GPUDevice` it is given
 * in its handle table and calls `device.createBuffer(...)` on that very object for every
 * allocation (weights, activations, staging and read-back buffers), and `buffer.destroy()`
 * when its last reference is released; so counting at this object sees all of them. A
 * buffer dropped without `destroy()` is uncounted when it is garbage collected.
 *
 * For tests, the counter can refuse allocations beyond a cap: the buffer is then created
 * invalid (as a real out-of-memory allocation is), and the refusal is recorded so the
 * engine can tell an out-of-memory failure from other errors.
 */
import type { GpuBuffer, GpuDevice } from './webgpu-types.ts';

/** Live and peak bytes at one moment. */
export interface GpuMemorySnapshot {
  /** Bytes of buffers created and not yet destroyed. */
  liveBytes: number;
  /** Largest `liveBytes` since the last `resetPeak()`. */
  peakBytes: number;
  /** Buffers alive. */
  liveBuffers: number;
  /** Allocations refused by the cap (tests), plus uncaptured GPU out-of-memory errors, since the counter was made. */
  refusedAllocations: number;
}

/** Counts the buffers of one device. */
export interface GpuMemoryCounter {
  readonly device: GpuDevice;
  snapshot(): GpuMemorySnapshot;
  /** Starts a new peak from the current live bytes; returns the snapshot before the reset. */
  resetPeak(): GpuMemorySnapshot;
  /** Bytes an allocation may take before the cap refuses it (Infinity without a cap). */
  capBytes: number;
}

const COUNTERS = new WeakMap<object, GpuMemoryCounter>();
const ORIGINAL_CREATE_BUFFER = new WeakMap<object, GpuDevice['createBuffer']>();

/** Creates a buffer that the device's counter (if any) does not see: for the allocation probe. */
export function uncountedCreateBuffer(device: GpuDevice, descriptor: Parameters<GpuDevice['createBuffer']>[0]): GpuBuffer {
  const create = ORIGINAL_CREATE_BUFFER.get(device) ?? device.createBuffer;
  return create.call(device, descriptor);
}

/** The counter of a device wrapped by `countGpuMemory`, if any. */
export function gpuMemoryCounterOf(device: GpuDevice): GpuMemoryCounter | undefined {
  return COUNTERS.get(device);
}

/**
 * Wraps `device` (in place) so that its buffers are counted. Idempotent: a device
 * wrapped before returns its existing counter.
 * @param capBytes tests: refuse any allocation that would take live bytes above this
 */
export function countGpuMemory(device: GpuDevice, capBytes = Infinity): GpuMemoryCounter {
  const existing = COUNTERS.get(device);
  if (existing) {
    existing.capBytes = capBytes;
    return existing;
  }
  let liveBytes = 0;
  let peakBytes = 0;
  let liveBuffers = 0;
  let refusedAllocations = 0;
  const release = (size: number) => {
    liveBytes -= size;
    liveBuffers--;
  };
  // A buffer dropped without destroy() is freed by the garbage collector: uncount it then.
  const collected = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<{ size: number; done: boolean }>((entry) => {
    if (!entry.done) release(entry.size);
  }) : undefined;

  const counter: GpuMemoryCounter = {
    device,
    capBytes,
    snapshot: () => ({ liveBytes, peakBytes, liveBuffers, refusedAllocations }),
    resetPeak() {
      const before = counter.snapshot();
      peakBytes = liveBytes;
      return before;
    },
  };
  // An allocation the GPU cannot satisfy raises a GPUOutOfMemoryError that nobody captured.
  const events = device as unknown as { addEventListener?: (type: string, listener: (event: { error?: { constructor?: { name?: string }; message?: string } }) => void) => void };
  events.addEventListener?.('uncapturederror', (event) => {
    const error = event.error;
    if (error?.constructor?.name === 'GPUOutOfMemoryError' || /out of memory/i.test(error?.message ?? '')) refusedAllocations++;
  });
  const createBuffer = device.createBuffer;
  ORIGINAL_CREATE_BUFFER.set(device, createBuffer);
  const wrapped = function (this: GpuDevice, descriptor: Parameters<GpuDevice['createBuffer']>[0]): GpuBuffer {
    const size = Number(descriptor.size) || 0;
    if (liveBytes + size > counter.capBytes) {
      refusedAllocations++;
      // What a real out-of-memory allocation gives: an invalid buffer plus a GPU error.
      // A size above every limit makes one without touching the device's memory.
      return createBuffer.call(this, { ...descriptor, size: 2 ** 52, mappedAtCreation: false });
    }
    const buffer = createBuffer.call(this, descriptor);
    liveBytes += size;
    liveBuffers++;
    if (liveBytes > peakBytes) peakBytes = liveBytes;
    const entry = { size, done: false };
    collected?.register(buffer, entry);
    const destroy = buffer.destroy;
    buffer.destroy = function (this: GpuBuffer) {
      if (!entry.done) {
        entry.done = true;
        release(size);
      }
      return destroy.call(this);
    };
    return buffer;
  };
  // An own property shadows GPUDevice.prototype.createBuffer for every caller of this object.
  Object.defineProperty(device, 'createBuffer', { value: wrapped, configurable: true, writable: true });
  COUNTERS.set(device, counter);
  return counter;
}
