/**
 * The generator worker of the `full-scale` bench: exactly `workers/generator.worker.ts`
 * (`serveEngine()`) plus gpu-memory-probe.ts's counters, installed before
 * the engine asks for its device. The page asks for the counters on the BroadcastChannel
 * {@link FULL_SCALE_CHANNEL} (`{type: 'stats'}` → `WorkerStats`).
 */
import { serveEngine } from '../../../src/engine/serve-engine.ts';
import { isWasmThread } from '../../../src/engine/worker-errors.ts';
import { FULL_SCALE_CHANNEL, type WorkerStats } from './full-scale-shared.ts';
import { gpuCounts, installGpuCounting, installWasmTracking, wasmBytes } from './gpu-memory-probe.ts';

if (!isWasmThread()) {
  installGpuCounting();
  installWasmTracking();
  const channel = new BroadcastChannel(FULL_SCALE_CHANNEL);
  channel.onmessage = (event: MessageEvent<{ type: string }>) => {
    if (event.data?.type !== 'stats') return;
    const c = gpuCounts();
    channel.postMessage({ type: 'stats-reply', gpuLiveBytes: c.liveBytes, gpuPeakBytes: c.peakBytes, wasmBytes: wasmBytes(), buffers: { created: c.created, destroyed: c.destroyed, collected: c.collected } } satisfies WorkerStats);
  };
}
// The engine exactly as the library's worker serves it (errors with fields, the watchdog).
serveEngine();
