/**
 * The library's own files (the generator worker's script and onnxruntime's wasm) when
 * they are not where the code looks: a bundler that does not emit
 * `new URL(…, import.meta.url)` assets, or a server that answers a missing file with its
 * HTML page (onnxruntime then reports "expected magic word 00 61 73 6d, found 3c 21 44 4f").
 * These turn that into a `LibraryAssetError` saying which file, where, and what to do.
 */
import { LibraryAssetError } from '../errors.ts';

/** What to do when the worker or the wasm is missing. */
export const LIBRARY_FILES_ADVICE =
  'Vite and webpack 5 emit both files on their own; with a bundler that does not handle new URL(…, import.meta.url) (esbuild, Rollup without a plugin), ' +
  'copy generator.worker.js and ort-wasm-simd-threaded.asyncify.wasm from node_modules/flux-webgpu/dist/lib/ beside your bundle, ' +
  'or host them anywhere and pass their locations as the workerUrl and wasmPaths options (widget: worker-url, wasm-paths attributes).';

/** The error for a generator worker whose script did not load (the worker's `error` event without a message). */
export function workerLoadError(): LibraryAssetError {
  return new LibraryAssetError('worker', `the generator worker's script (generator.worker.js) could not be loaded. ${LIBRARY_FILES_ADVICE}`);
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/**
 * Checks that `url` serves WebAssembly (reads its first bytes only).
 * @returns a LibraryAssetError saying what was found instead, or undefined when it is wasm
 */
export async function checkWasmFile(url: string): Promise<LibraryAssetError | undefined> {
  const fail = (what: string) => new LibraryAssetError('wasm', `onnxruntime's wasm could not be loaded from ${url}: ${what}. ${LIBRARY_FILES_ADVICE}`, url);
  let response: Response;
  try {
    response = await fetch(url, { headers: { Range: 'bytes=0-3' }, credentials: 'same-origin' });
  } catch (error) {
    return fail(`the request failed (${(error as Error).message})`);
  }
  if (!response.ok) return fail(`HTTP ${response.status}`);
  const reader = response.body?.getReader();
  const head: number[] = [];
  while (reader && head.length < 4) {
    const { done, value } = await reader.read();
    if (done) break;
    head.push(...value.subarray(0, 4 - head.length));
  }
  void reader?.cancel().catch(() => undefined);
  if (WASM_MAGIC.every((byte, i) => head[i] === byte)) return undefined;
  const type = response.headers.get('content-type') ?? 'no content type';
  const text = String.fromCharCode(...head).replace(/[^\x20-\x7e]/g, '?');
  return fail(`the server sent ${type} starting with "${text}", not WebAssembly (a missing file answered with a page?)`);
}
