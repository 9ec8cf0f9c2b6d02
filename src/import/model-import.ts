/**
 * The page side of in-page imports: `importModel()` converts a model published on the
 * Hugging Face Hub into this browser's weight store (in a worker of its own: see
 * `import-engine.ts`), and `planModelImport()` tells its sizes and licences first.
 *
 * ```ts
 * const source = { from: 'hf:black-forest-labs/FLUX.1-schnell', weights: 'q4' };
 * const plan = await planModelImport(source);            // listings and headers only
 * const { packageUrl } = await importModel(source, { onProgress: (e) => console.log(e.loaded, e.total, e.etaMs) });
 * const generator = createGenerator({ model: packageUrl }); // or createGenerator({ model: source })
 * ```
 */
import * as Comlink from 'comlink';
import { fromWireError, isWireError } from '../engine/protocol.ts';
import { startModuleWorker } from '../engine/worker-url.ts';
import { AbortedError, FluxError, WorkerCrashedError } from '../errors.ts';
import { requestPersistentStorage } from '../store/storage-quota.ts';
import importWorkerUrl from '../../workers/import.worker.ts?worker&url';
import type { HubImportPlan, HubImportResult } from './hub-import.ts';
import { checkHubModelSource, type HubModelSource } from './hub-model-source.ts';
import type { ImportApi } from './import-engine.ts';
import type { ImportProgressEvent } from './import-progress.ts';

/** Options of `importModel` and `planModelImport`. */
export interface ModelImportOptions {
  /** Progress: bytes per source file and in total, the graph being converted, time left. */
  onProgress?: (event: ImportProgressEvent) => void;
  /** Cancels with AbortedError; what was converted is kept, and the next import resumes. */
  signal?: AbortSignal;
  /** A worker running `workers/import.worker.ts` instead of a fresh one (left running afterwards). */
  worker?: Worker;
}

let importCounter = 0;

/** Starts the library's import worker. */
export function startImportWorker(): Worker {
  return startModuleWorker(new URL(importWorkerUrl, import.meta.url), 'flux-webgpu-import');
}

/** Runs `task` against an import worker, rebuilding its errors as their classes. */
async function withImportWorker<T>(options: ModelImportOptions, task: (api: Comlink.Remote<ImportApi>) => Promise<T>): Promise<T> {
  const worker = options.worker ?? startImportWorker();
  const api = Comlink.wrap<ImportApi>(worker);
  let onError: ((event: ErrorEvent) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    onError = (event) => {
      event.preventDefault();
      // A fresh import worker starts with the next call; what was converted is kept.
      reject(new WorkerCrashedError(`the import worker failed: ${event.message || 'its script could not be loaded'}`, event.message ? 'exited' : 'failed-to-start', 'import'));
    };
    worker.addEventListener('error', onError);
  });
  failed.catch(() => undefined);
  try {
    return await Promise.race([task(api), failed]);
  } catch (error) {
    throw isWireError(error) && !(error instanceof FluxError) ? fromWireError({ name: error.name, message: error.message, fields: (error as { fields?: Record<string, unknown> }).fields ?? {} }) : error;
  } finally {
    worker.removeEventListener('error', onError!);
    api[Comlink.releaseProxy]();
    if (!options.worker) worker.terminate();
  }
}

/**
 * Imports a model from the Hub into this browser's weight store, or resumes an import
 * that stopped; resolves at once, without a request, when it is stored already. Checks
 * the device and the storage quota before the first tensor byte.
 * @returns where it is stored: pass `packageUrl` as `model` to `createGenerator`
 * @throws InvalidParameterError naming a field of `source` (before anything starts)
 * @throws HubError, CheckpointError, DeviceCapabilityError, StorageQuotaError,
 *   DownloadError, IntegrityError, AbortedError (see `importFromHub`)
 * @throws WorkerCrashedError when the import worker dies or its script cannot be loaded (what was converted is kept)
 */
export async function importModel(source: HubModelSource, options: ModelImportOptions = {}): Promise<HubImportResult> {
  checkHubModelSource(source);
  if (options.signal?.aborted) throw new AbortedError();
  // Persistent storage can only be asked for from the page.
  void requestPersistentStorage();
  const id = `import-${Date.now().toString(36)}-${++importCounter}`;
  return withImportWorker(options, async (api) => {
    const onAbort = () => void api.cancel(id).catch(() => undefined);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await api.run(id, source, options.onProgress ? Comlink.proxy(options.onProgress) : undefined);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  });
}

/**
 * The sizes (to download, to store) and licences of an import, read from the Hub's
 * listings, configs, tensor headers and model cards (a few hundred kB; no tensor data).
 * @throws as `importModel`, before any tensor byte
 */
export async function planModelImport(source: HubModelSource, options: Pick<ModelImportOptions, 'worker'> = {}): Promise<HubImportPlan> {
  checkHubModelSource(source);
  return withImportWorker(options, (api) => api.plan(source));
}
