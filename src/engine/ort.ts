/**
 * onnxruntime-web, native WebGPU EP build (`onnxruntime-web/webgpu`, the asyncify wasm):
 * the only web build with 8-bit MatMulNBits, which quantized packages use. It runs
 * directly inside the generator worker (no `env.wasm.proxy`: GPU tensors cannot cross
 * ORT's proxy worker).
 *
 * The wasm binary is referenced as `new URL(…, import.meta.url)`: Vite and webpack 5 emit it
 * as an asset (the library build as `./ort-wasm-simd-threaded.asyncify.wasm` beside the
 * worker), so a static host, a sub-path or a consumer's bundle works without
 * configuration; `wasmPaths` (see worker-url.ts) points elsewhere.
 */
import * as ort from 'onnxruntime-web/webgpu';
import type { LibraryAssetError } from '../errors.ts';
import { checkWasmFile } from './library-files.ts';

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
  /** Absolute URL of `ort-wasm-simd-threaded.asyncify.wasm` (default: the one shipped beside the worker). */
  wasmUrl?: string;
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
  // Keep this expression literal: Vite and webpack recognize exactly this form and emit the file.
  ort.env.wasm.wasmPaths = { wasm: settings.wasmUrl ?? new URL('onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm', import.meta.url).href };
  ort.env.wasm.numThreads = wasmThreads(settings.numThreads);
  ort.env.wasm.proxy = false;
  ort.env.logLevel = settings.logLevel ?? 'error';
  return ort;
}

let wasmCheck: Promise<LibraryAssetError | undefined> | undefined;

/**
 * After a failed session creation: whether onnxruntime's wasm is the cause (not where it
 * was looked for, or not wasm). Checked once; reads only the file's first bytes.
 */
export function wasmLoadFailure(): Promise<LibraryAssetError | undefined> {
  const paths = ort.env.wasm.wasmPaths;
  const url = typeof paths === 'object' ? paths?.wasm : undefined;
  if (typeof url !== 'string') return Promise.resolve(undefined);
  return (wasmCheck ??= checkWasmFile(url));
}
