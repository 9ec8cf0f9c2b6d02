/**
 * The bounded allocation probe: how many bytes of GPU memory the device will actually
 * give, measured by creating and touching buffers in chunks under 'out-of-memory' and
 * 'validation' error scopes until one fails or the ceiling (the largest working set a
 * request could need) is reached; every probe buffer is destroyed at once. WebGPU has no
 * API that reports free memory, so this is the only honest number before a download.
 */
import { uncountedCreateBuffer } from './gpu-memory-counter.ts';
import { GPU_BUFFER_USAGE, type GpuBuffer, type GpuDevice } from './webgpu-types.ts';

/** Options of `probeGpuMemory`. */
export interface ProbeOptions {
  /** Tests: the probe finds at most this many bytes (makes a big device look small). */
  capBytes?: number;
  /** Largest chunk in bytes (default 256 MiB, never above the device's buffer limits). */
  chunkBytes?: number;
  /** Smallest chunk tried after a failure before the probe stops (default 16 MiB). */
  minChunkBytes?: number;
}

/** What the probe found. */
export interface ProbeResult {
  /** Bytes the device gave, all chunks together. */
  bytes: number;
  /** True when it stopped at the ceiling (the device may have more); false after a refusal. */
  atLeast: boolean;
  /** The ceiling it was given. */
  ceilingBytes: number;
  /** Why it stopped early (the GPU error), when it did. */
  stoppedBy?: string;
}

const MIB = 1024 * 1024;

/**
 * Creates a buffer of `size` bytes (a multiple of 4) and writes its last bytes, so that a
 * lazily allocating driver commits it, under 'out-of-memory' and 'validation' error
 * scopes; the counting wrapper does not see it. The caller destroys the buffer.
 * @returns the buffer, or the GPU's error when the allocation was refused
 */
export async function allocateTouched(device: GpuDevice, size: number, label: string): Promise<{ buffer?: GpuBuffer; error?: string }> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let buffer: GpuBuffer | undefined;
  let thrown: string | undefined;
  try {
    buffer = uncountedCreateBuffer(device, { size, usage: GPU_BUFFER_USAGE.STORAGE | GPU_BUFFER_USAGE.COPY_DST, label });
    device.queue.writeBuffer(buffer, size - 4, new Uint8Array(4));
    await device.queue.onSubmittedWorkDone();
  } catch (error) {
    thrown = (error as Error).message;
  }
  const validation = await device.popErrorScope();
  const outOfMemory = await device.popErrorScope();
  const error = thrown ?? outOfMemory?.message ?? validation?.message;
  if (error) {
    buffer?.destroy();
    return { error };
  }
  return { buffer };
}

/**
 * Measures how many bytes the device gives, up to `ceilingBytes`.
 * Chunks shrink by half after a refusal (down to `minChunkBytes`) so that the result is
 * within one small chunk of what is free; all probe buffers are destroyed before it returns.
 */
export async function probeGpuMemory(device: GpuDevice, ceilingBytes: number, options: ProbeOptions = {}): Promise<ProbeResult> {
  const limit = Math.min(device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize);
  const wall = Math.min(ceilingBytes, options.capBytes ?? Infinity);
  let chunk = Math.max(4, Math.min(options.chunkBytes ?? 256 * MIB, limit));
  const minChunk = Math.min(chunk, options.minChunkBytes ?? 16 * MIB);
  const buffers: GpuBuffer[] = [];
  let bytes = 0;
  let stoppedBy: string | undefined;
  try {
    while (bytes < wall) {
      const size = Math.ceil(Math.min(chunk, wall - bytes) / 4) * 4;
      const { buffer, error } = await allocateTouched(device, size, 'flux-webgpu memory probe');
      if (buffer) {
        buffers.push(buffer);
        bytes += size;
        continue;
      }
      if (chunk / 2 >= minChunk) {
        chunk /= 2;
        continue;
      }
      stoppedBy = error;
      break;
    }
  } finally {
    for (const buffer of buffers) buffer.destroy();
  }
  if (options.capBytes !== undefined && options.capBytes < ceilingBytes && bytes >= options.capBytes) {
    return { bytes: options.capBytes, atLeast: false, ceilingBytes, stoppedBy: 'the test cap on GPU memory' };
  }
  return { bytes, atLeast: stoppedBy === undefined, ceilingBytes, ...(stoppedBy ? { stoppedBy } : {}) };
}
