/**
 * Bench-only instrumentation for a worker: counts the bytes of every GPU buffer created on
 * devices requested after `installGpuCounting()` (live and peak; a buffer stops counting
 * when it is destroyed or garbage-collected), and finds the WebAssembly memories
 * onnxruntime creates (`wasmBytes`: their size; wasm memory never shrinks, so that is
 * also its peak). Measures; changes nothing the engine does.
 */

/** Counted GPU memory, bytes. */
export interface GpuCounts {
  liveBytes: number;
  peakBytes: number;
  /** Peak since the last `markWindow()`, and the live bytes at that mark. */
  windowPeakBytes: number;
  windowStartBytes: number;
  created: number;
  destroyed: number;
  collected: number;
}

interface CountedBuffer {
  size: number;
  destroy(): void;
}

const counts: GpuCounts = { liveBytes: 0, peakBytes: 0, windowPeakBytes: 0, windowStartBytes: 0, created: 0, destroyed: 0, collected: 0 };
const memories = new Set<WebAssembly.Memory>();

/** The counters (a live object). */
export function gpuCounts(): GpuCounts {
  return counts;
}

/** Starts a measuring window: `windowPeakBytes` restarts from the live bytes now. */
export function markWindow(): void {
  counts.windowStartBytes = counts.liveBytes;
  counts.windowPeakBytes = counts.liveBytes;
}

function add(bytes: number): void {
  counts.liveBytes += bytes;
  counts.peakBytes = Math.max(counts.peakBytes, counts.liveBytes);
  counts.windowPeakBytes = Math.max(counts.windowPeakBytes, counts.liveBytes);
}

/** Wraps `GPUAdapter.prototype.requestDevice` so that every new device's buffers are counted. */
export function installGpuCounting(): void {
  const Adapter = (globalThis as unknown as { GPUAdapter?: { prototype: { requestDevice(d?: unknown): Promise<{ createBuffer(d: unknown): CountedBuffer }> } } }).GPUAdapter;
  if (!Adapter) return;
  const freed = new FinalizationRegistry<{ size: number; done: boolean }>((entry) => {
    if (entry.done) return;
    entry.done = true;
    counts.collected++;
    counts.liveBytes -= entry.size;
  });
  const requestDevice = Adapter.prototype.requestDevice;
  Adapter.prototype.requestDevice = async function (this: unknown, descriptor?: unknown) {
    const device = await requestDevice.call(this, descriptor);
    const createBuffer = device.createBuffer.bind(device);
    device.createBuffer = (d: unknown) => {
      const buffer = createBuffer(d);
      const entry = { size: buffer.size, done: false };
      counts.created++;
      add(entry.size);
      const destroy = buffer.destroy.bind(buffer);
      buffer.destroy = () => {
        if (!entry.done) {
          entry.done = true;
          counts.destroyed++;
          counts.liveBytes -= entry.size;
        }
        destroy();
      };
      freed.register(buffer, entry);
      return buffer;
    };
    return device;
  };
}

/** Records every WebAssembly.Memory created or exported from now on. */
export function installWasmTracking(): void {
  const wasm = WebAssembly as unknown as Record<string, unknown>;
  const OriginalMemory = WebAssembly.Memory;
  wasm.Memory = new Proxy(OriginalMemory, {
    construct(target, args) {
      const memory = Reflect.construct(target, args) as WebAssembly.Memory;
      memories.add(memory);
      return memory;
    },
  });
  const keep = (result: unknown) => {
    const instance = (result as { instance?: WebAssembly.Instance }).instance ?? (result as WebAssembly.Instance);
    for (const value of Object.values(instance?.exports ?? {})) if (value instanceof OriginalMemory) memories.add(value);
    return result;
  };
  for (const name of ['instantiate', 'instantiateStreaming'] as const) {
    const original = wasm[name] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (original) wasm[name] = (...args: unknown[]) => original.apply(WebAssembly, args).then(keep);
  }
}

/** Bytes of the largest WebAssembly memory seen (onnxruntime's heap). */
export function wasmBytes(): number {
  let largest = 0;
  for (const memory of memories) largest = Math.max(largest, memory.buffer.byteLength);
  return largest;
}
