/**
 * onnxruntime-web, native WebGPU EP build (`onnxruntime-web/webgpu`, the asyncify wasm):
 * the only web build with 8-bit MatMulNBits, which quantized packages use. It runs
 * directly inside the generator worker (no `env.wasm.proxy`: GPU tensors cannot cross
 * ORT's proxy worker).
 *
 * The wasm binary is imported as a URL, so the bundler emits it beside the worker chunk
 * and the URL is relative to the module itself: a static host (or a sub-path) works
 * without configuration.
 */
import * as ort from 'onnxruntime-web/webgpu';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';

export { ort };

/** How onnxruntime's wasm part runs. */
export interface OrtSettings {
  /**
   * Wasm CPU threads (default 1). Every compute node of our graphs runs on the WebGPU EP;
   * the CPU EP only evaluates a handful of int64 shape ops per graph, so threads buy
   * nothing and cost a second copy of the worker plus CPU contention (measured on
   * SwiftShader: 2 threads made a warm 4-step run 1.7× slower). More than 1 needs a
   * cross-origin isolated page (COOP/COEP); without it 1 is used.
   */
  numThreads?: number;
  /** onnxruntime's log level (default 'error': its routine warnings would read as errors in a page's console; 'verbose' shows node placement). */
  logLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
}

let configured = false;

/** The wasm thread count to use for a requested one: 1 unless asked and cross-origin isolated. */
export function wasmThreads(requested: number | undefined): number {
  const isolated = Boolean((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated);
  if (!isolated || requested === undefined || !Number.isInteger(requested) || requested < 1) return 1;
  return Math.min(requested, globalThis.navigator?.hardwareConcurrency ?? requested);
}

/** Sets onnxruntime's global options; only the first call before any session counts. */
export function configureOrt(settings: OrtSettings = {}): typeof ort {
  if (configured) return ort;
  configured = true;
  ort.env.wasm.wasmPaths = { wasm: new URL(wasmUrl, import.meta.url).href };
  ort.env.wasm.numThreads = wasmThreads(settings.numThreads);
  ort.env.wasm.proxy = false;
  ort.env.logLevel = settings.logLevel ?? 'error';
  return ort;
}
