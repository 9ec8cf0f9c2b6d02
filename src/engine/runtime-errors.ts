/**
 * Errors from onnxruntime and WebGPU turned into this project's typed errors, and
 * library-internal details (C++ source file names and line numbers, log prefixes) kept
 * out of every message that leaves the worker.
 */

/**
 * Whether an error is onnxruntime's WebAssembly aborting (out of memory, a failed
 * assertion): Emscripten throws a `WebAssembly.RuntimeError` "Aborted(…)", after which
 * that wasm instance is unusable.
 */
export function isWasmAbort(error: unknown): boolean {
  if (typeof WebAssembly !== 'undefined' && error instanceof WebAssembly.RuntimeError) return true;
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  return /\bAborted\(/.test(message);
}

/** Whether an error's text says the GPU device was lost (onnxruntime's and the browsers' wordings). */
export function saysDeviceLost(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /device (is |was )?lost|device lost|GPUDevice.*(destroyed|lost)|mapAsync|Instance dropped|DeviceLost/i.test(message);
}

const SOURCE_FILE = /(?:[\w.~-]*[/\\])*[\w.-]+\.(?:cc|cpp|cxx|c|h|hpp|hxx|mm)\b(?::\d+)*/g;
const ORT_LOG_PREFIX = /\[(?:[EWIV]:)?onnxruntime:[^\]]*\]\s*/g;

/**
 * The text without library-internal file names: C/C++ source paths with their line
 * numbers (`/onnxruntime/core/providers/webgpu/buffer_manager.cc:480`) and onnxruntime's
 * log prefixes (`[E:onnxruntime:, sequential_executor.cc:572 ExecuteKernel]`).
 */
export function withoutInternalFileNames(text: string): string {
  return text
    .replace(ORT_LOG_PREFIX, '')
    .replace(SOURCE_FILE, '')
    .replace(/[ \t]{2,}/g, ' ')
    .replace(/ ([,.;])/g, '$1')
    .trim();
}
