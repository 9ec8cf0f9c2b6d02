/**
 * Where the generator worker's script and onnxruntime's wasm come from, and starting the
 * worker. The shipped library (`dist/lib`, what `npm install flux-webgpu` gives) keeps
 * both references in the one form Vite and webpack 5 recognize and every static host
 * resolves:
 *
 *   new Worker(new URL('./generator.worker.js', import.meta.url), { type: 'module', … })
 *   new URL('./ort-wasm-simd-threaded.asyncify.wasm', import.meta.url)   (in the worker)
 *
 * Vite and webpack 5 see those, bundle the worker and emit the wasm as an asset wherever
 * they put their output; served as is (a static host, a CDN), the URLs resolve beside the
 * module. Other bundlers (esbuild, Rollup without a plugin) leave the URLs as they are: the
 * two files are then copied beside the bundle, or a site that hosts them elsewhere passes
 * `workerUrl` / `wasmPaths`; missing files end in a `LibraryAssetError` (library-files.ts).
 * vite.lib.config.ts checks that the built files keep these forms.
 */
import * as Comlink from 'comlink';
import { InvalidParameterError } from '../errors.ts';
import type { EngineApi } from './protocol.ts';
// Only for the cross-origin case below. The library build turns this into the plain
// string "./generator.worker.js" (a variable, so bundlers do not copy the file twice).
import shippedWorkerFile from '../../workers/generator.worker.ts?worker&url';

/** The worker's name (shown in the browser's dev tools). */
export const WORKER_NAME = 'flux-webgpu-generator';

/** Where the worker and onnxruntime's wasm are, when not beside the library. */
export interface WorkerLocation {
  /**
   * URL of the library's `generator.worker.js` (e.g. on a CDN); relative URLs resolve
   * against the page. Default: the worker bundled with the library.
   */
  workerUrl?: string | URL;
  /**
   * Where onnxruntime's wasm is: the URL of a folder holding
   * `ort-wasm-simd-threaded.asyncify.wasm` (ending in "/"), or of that file itself;
   * relative URLs resolve against the page. Default: the wasm shipped beside the worker.
   */
  wasmPaths?: string | URL;
}

/** The wasm file name onnxruntime's WebGPU build loads. */
export const ORT_WASM_FILE = 'ort-wasm-simd-threaded.asyncify.wasm';

function pageBase(): string | undefined {
  return globalThis.document?.baseURI ?? globalThis.location?.href;
}

function absoluteUrl(field: string, value: string | URL, allowed: string): URL {
  if (typeof value !== 'string' && !(value instanceof URL)) throw new InvalidParameterError(field, allowed, value);
  try {
    const url = new URL(value, pageBase());
    if (!/^(https?|blob|data|file):$/.test(url.protocol)) throw new Error('scheme');
    return url;
  } catch {
    throw new InvalidParameterError(field, allowed, String(value));
  }
}

/**
 * The wasm URL onnxruntime should load, from a `wasmPaths` option: a folder (its
 * `ort-wasm-simd-threaded.asyncify.wasm`) or the `.wasm` file itself, made absolute
 * against the page (the worker resolves relative URLs against its own script instead).
 * @throws InvalidParameterError naming `wasmPaths` for anything that is not a URL
 */
export function resolveWasmUrl(wasmPaths: string | URL): string {
  const url = absoluteUrl('wasmPaths', wasmPaths, `the URL of a folder holding ${ORT_WASM_FILE} (ending in "/"), or of that .wasm file`);
  if (url.pathname.endsWith('.wasm')) return url.href;
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return new URL(ORT_WASM_FILE, url).href;
}

/**
 * Checks a `WorkerLocation` without starting anything (so a bad URL is refused when the
 * generator is created, not at its first call).
 * @throws InvalidParameterError naming `workerUrl` or `wasmPaths`
 */
export function checkWorkerLocation(where: WorkerLocation): void {
  if (where.workerUrl !== undefined) workerScriptUrl(where.workerUrl);
  if (where.wasmPaths !== undefined) resolveWasmUrl(where.wasmPaths);
}

function workerScriptUrl(workerUrl: string | URL): URL {
  return absoluteUrl('workerUrl', workerUrl, "the URL of the library's generator.worker.js");
}

/**
 * Starts a generator worker (`createGeneratorWorker`); with `wasmPaths`, onnxruntime in
 * it loads its wasm from there.
 * @throws InvalidParameterError naming `workerUrl` or `wasmPaths` when one is not a URL
 */
export function startGeneratorWorker(where: WorkerLocation = {}): Worker {
  const wasmUrl = where.wasmPaths === undefined ? undefined : resolveWasmUrl(where.wasmPaths);
  const worker = createGeneratorWorker(where.workerUrl);
  if (wasmUrl) {
    // The worker's first call, so never too late for onnxruntime's settings. The proxy is
    // never released (a release would stop the worker answering anyone) but held as long
    // as the worker, so Comlink's finalizer does not release it either.
    const engine = Comlink.wrap<EngineApi>(worker);
    configureProxies.set(worker, engine);
    void engine.configure({ wasmUrl }).catch(() => undefined);
  }
  return worker;
}

const configureProxies = new WeakMap<Worker, unknown>();

/**
 * Starts a generator worker: from `workerUrl` when given, else the worker bundled with
 * the library. Browsers refuse worker scripts from another origin (a library imported
 * from a CDN, or a `workerUrl` there): the worker then starts from a same-origin blob that
 * imports the real worker module (CORS applies; the worker's own relative URLs, the wasm
 * among them, still resolve against its real location).
 * @throws InvalidParameterError naming `workerUrl` when it is not a URL
 */
export function createGeneratorWorker(workerUrl?: string | URL): Worker {
  if (workerUrl !== undefined) return startModuleWorker(workerScriptUrl(workerUrl));
  try {
    // Keep this expression literal (name: WORKER_NAME): Vite and webpack recognize exactly this form.
    return new Worker(new URL('../../workers/generator.worker.ts', import.meta.url), { type: 'module', name: 'flux-webgpu-generator' });
  } catch (error) {
    if ((error as { name?: string })?.name !== 'SecurityError') throw error;
    // The library itself came from another origin (a static host or CDN, unbundled).
    return startModuleWorker(new URL(shippedWorkerFile, import.meta.url));
  }
}

/**
 * A module worker from `url` (the generator worker, or another of the library's workers:
 * `name`); through a same-origin blob when `url` is on another origin.
 */
export function startModuleWorker(url: URL, name: string = WORKER_NAME): Worker {
  const options: WorkerOptions = { type: 'module', name };
  if (typeof location === 'undefined' || url.origin === location.origin || url.protocol === 'blob:' || url.protocol === 'data:') return new Worker(url, options);
  const bootstrap = URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' }));
  try {
    return new Worker(bootstrap, options);
  } finally {
    // The worker has fetched the blob by the time it runs; a short delay keeps slow starts safe.
    setTimeout(() => URL.revokeObjectURL(bootstrap), 60_000);
  }
}
