/**
 * One worker and one copy of the weights per model, however many widgets a page has:
 * a module-level registry of generators, reference counted.
 *
 * - Workers are keyed by the package URL (absolute). The engine inside a worker loads one
 *   package at a time and queues calls, so every widget of one model shares its worker,
 *   its GPU device, its loaded sessions and its stored weights.
 * - Generators are keyed by model + privacy + providers + size range; widgets with the
 *   same settings share one (and so one device check). Generators with other settings
 *   for the same model still share that model's worker.
 *
 * A lease is released by `release()`; when a worker's last generator goes, the worker is
 * stopped and its GPU memory freed. When a shared worker dies, every generator using it
 * sees its calls fail with WorkerCrashedError, and the next call of any of them starts
 * one fresh worker for all of them (the entry's `current()`).
 */
import { createGenerator, type Generator } from '../generator.ts';
import type { WorkerLocation } from '../engine/worker-url.ts';
import { startWorker } from '../local-generator.ts';
import { packageUrlOf } from '../package/package-url.ts';
import { isEngine, type AnyProviderConfig, type ImageEngine } from '../providers/index.ts';
import { isWorkerDead } from '../worker-connection.ts';
import type { GeneratorConfig } from './config.ts';

/** A generator borrowed from the registry. */
export interface GeneratorLease {
  readonly generator: Generator;
  /** The registry key (model, privacy, providers). */
  readonly key: string;
  /** Gives the generator back; the lease cannot be used afterwards. Idempotent. */
  release(): void;
}

/** One model's worker, shared; replaced by a fresh one when it died. */
interface WorkerEntry {
  worker?: Worker;
  refs: number;
  /** The live worker (started now when there is none, or the last one died). */
  current(): Worker;
}

function newWorkerEntry(where: WorkerLocation): WorkerEntry {
  const entry: WorkerEntry = {
    refs: 0,
    current() {
      if (!entry.worker || isWorkerDead(entry.worker)) entry.worker = startWorker(where);
      return entry.worker;
    },
  };
  return entry;
}

interface GeneratorEntry {
  generator: Generator;
  refs: number;
  /** Package URL of the worker it uses (absent for remote-only generators without a model). */
  workerKey?: string;
}

const workers = new Map<string, WorkerEntry>();
const generators = new Map<string, GeneratorEntry>();
const engineIds = new WeakMap<ImageEngine, number>();
let nextEngineId = 1;

/** A stable key for a provider list: configs by value (keys included, in memory only), engines by identity. */
function providersKey(providers: (AnyProviderConfig | ImageEngine)[]): unknown[] {
  return providers.map((p) => {
    if (!isEngine(p)) return Object.fromEntries(Object.entries(p).sort(([a], [b]) => a.localeCompare(b)));
    if (!engineIds.has(p)) engineIds.set(p, nextEngineId++);
    return { engine: engineIds.get(p) };
  });
}

/** The registry key of a configuration (model URL made absolute against `base`). */
export function generatorKey(config: GeneratorConfig, base: string = location.href): string {
  const model = config.model ? packageUrlOf(config.model, base) : null;
  return JSON.stringify([model, config.privacy ?? null, config.memory, config.allowAnySize, providersKey(config.providers)]);
}

/**
 * Borrows the generator for `config`, creating it (and its model's worker) on first use.
 * @throws InvalidParameterError for an invalid configuration (nothing is created then)
 */
export function acquireGenerator(config: GeneratorConfig): GeneratorLease {
  const key = generatorKey(config);
  let entry = generators.get(key);
  if (!entry) {
    const workerKey = config.model ? packageUrlOf(config.model, location.href) : undefined;
    let workerEntry = workerKey ? workers.get(workerKey) : undefined;
    const newWorker = workerKey && !workerEntry;
    if (newWorker) workerEntry = newWorkerEntry({ workerUrl: config.workerUrl, wasmPaths: config.wasmPaths });
    const shared = workerEntry;
    // Nothing starts until the first call: a configuration error leaves no worker behind.
    const generator = createGenerator({
      model: workerKey,
      privacy: config.privacy,
      providers: config.providers,
      allowAnySize: config.allowAnySize,
      worker: shared ? () => shared.current() : undefined,
    });
    if (newWorker) workers.set(workerKey!, workerEntry!);
    if (workerEntry) workerEntry.refs++;
    entry = { generator, refs: 0, workerKey };
    generators.set(key, entry);
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return {
    generator: held.generator,
    key,
    release() {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs > 0) return;
      generators.delete(key);
      const workerEntry = held.workerKey ? workers.get(held.workerKey) : undefined;
      if (!workerEntry) return;
      workerEntry.refs--;
      if (workerEntry.refs > 0) return; // other generators still use this worker: leave it running
      workers.delete(held.workerKey!);
      // The last user: free the GPU, then stop the worker (dispose() does both when the
      // generator went local; terminate() covers the rest).
      void held.generator.dispose().finally(() => workerEntry.worker?.terminate());
    },
  };
}

/** How many workers and generators the registry holds (for tests and diagnostics). */
export function sharedGeneratorStats(): { workers: number; generators: number; models: string[] } {
  return { workers: workers.size, generators: generators.size, models: [...workers.keys()] };
}
