/**
 * The import worker's side (`workers/import.worker.ts`): imports run here, in a worker
 * of their own, so that a conversion never waits for, nor holds up, a generation in the
 * generator worker (each has its own thread: the CPU work of a conversion — hashing,
 * re-packing blocks, quantizing — cannot stall a generation's JavaScript, and neither
 * blocks the page). Both workers share the weight store (IndexedDB); an import writes
 * its package under its own URL and the generator worker can load it once committed.
 */
import { releaseProxy } from 'comlink';
import { InvalidParameterError } from '../errors.ts';
import { WeightStore, type WeightStoreOptions } from '../store/weight-store.ts';
import { importFromHub, planHubImport, type HubImportPlan, type HubImportResult, type ImportStore } from './hub-import.ts';
import type { HubModelSource } from './hub-model-source.ts';
import type { ImportProgressEvent } from './import-progress.ts';

/** What the import worker offers (called through Comlink). */
export interface ImportApi {
  /** Sizes and licences of an import (listings, configs, headers, model cards; no tensor data). */
  plan(source: HubModelSource): Promise<HubImportPlan>;
  /** Imports (or resumes); `id` lets `cancel` stop it. */
  run(id: string, source: HubModelSource, onProgress?: (event: ImportProgressEvent) => void): Promise<HubImportResult>;
  /** Cancels a running import: it rejects with AbortedError; what was converted is kept. Unknown ids are ignored. */
  cancel(id: string): void;
}

/** Options of the import engine. */
export interface ImportEngineOptions {
  store?: ImportStore;
  weightStore?: WeightStoreOptions;
}

/** Closes the message port of a callback that arrived as a Comlink proxy. */
function releaseCallback(callback: unknown): void {
  const release = (callback as Record<symbol, unknown> | undefined)?.[releaseProxy];
  if (typeof release === 'function') (release as () => void)();
}

/** The import worker's engine. */
export class ImportEngine implements ImportApi {
  private readonly store: ImportStore;
  private readonly running = new Map<string, AbortController>();

  constructor(options: ImportEngineOptions = {}) {
    this.store = options.store ?? new WeightStore(options.weightStore);
  }

  plan(source: HubModelSource): Promise<HubImportPlan> {
    return planHubImport(source, { store: this.store });
  }

  async run(id: string, source: HubModelSource, onProgress?: (event: ImportProgressEvent) => void): Promise<HubImportResult> {
    if (this.running.has(id)) throw new InvalidParameterError('id', 'unique among running imports', id);
    const controller = new AbortController();
    this.running.set(id, controller);
    const progress = (event: ImportProgressEvent) => {
      try {
        const result = onProgress?.(event) as unknown;
        if (result && typeof (result as Promise<void>).catch === 'function') (result as Promise<void>).catch(() => undefined);
      } catch {
        // Progress must not break an import.
      }
    };
    try {
      return await importFromHub(source, { store: this.store, signal: controller.signal, onProgress: progress });
    } finally {
      this.running.delete(id);
      releaseCallback(onProgress);
    }
  }

  cancel(id: string): void {
    this.running.get(id)?.abort();
  }
}
