/**
 * The options of `createGenerator` and `createLocalGenerator`, checked where they enter:
 * every value that is not allowed (a wrong type, an unknown key, a URL that does not
 * parse) is an InvalidParameterError naming the option and what is allowed. Provider
 * configs are checked by `createProvider`.
 */
import type { EngineSettings } from './engine/protocol.ts';
import { MEMORY_OPTIONS } from './engine/memory-plan.ts';
import { checkWorkerLocation } from './engine/worker-url.ts';
import { InvalidParameterError } from './errors.ts';
import { checkHubModelSource } from './import/hub-model-source.ts';
import { packageUrlOf } from './package/package-url.ts';
import { PRIVACY_MODES } from './routing.ts';
import { resolveRetryPolicy } from './store/download-retry.ts';

/** Options of the local generator (a subset of `createGenerator`'s). */
const LOCAL_KEYS = ['model', 'allowAnySize', 'engine', 'memory', 'worker', 'workerUrl', 'wasmPaths'];
/** Options of `createGenerator`. */
const GENERATOR_KEYS = [...LOCAL_KEYS, 'privacy', 'providers'];

/** Each engine setting and its check. */
const ENGINE_SETTINGS: Record<keyof EngineSettings, (field: string, value: unknown) => void> = {
  numThreads: (field, value) => integer(field, value, 1, 1024),
  logLevel: (field, value) => oneOf(field, value, ['verbose', 'info', 'warning', 'error', 'fatal']),
  logSeverityLevel: (field, value) => integer(field, value, 0, 4),
  keepSessions: (field, value) => boolean(field, value),
  forceCpuNodeNames: (field, value) => {
    if (!Array.isArray(value) || !value.every((name) => typeof name === 'string')) throw new InvalidParameterError(field, 'an array of graph node names (text)', value, 'wrong-type');
  },
  preferredLayout: (field, value) => oneOf(field, value, ['NCHW', 'NHWC']),
  wasmUrl: (field, value) => {
    if (typeof value !== 'string') throw new InvalidParameterError(field, 'an absolute URL of the wasm file (text)', value, 'wrong-type');
  },
  gpuMemoryCap: (field, value) => {
    const cap = checkObject(field, value, 'an object such as { probeBytes: 1e9, allocationBytes: 2e9 } (tests: a smaller GPU)');
    checkKeys(`${field}.`, cap, ['probeBytes', 'allocationBytes']);
    for (const key of ['probeBytes', 'allocationBytes']) {
      if (cap[key] !== undefined && (typeof cap[key] !== 'number' || !(cap[key] >= 0))) throw new InvalidParameterError(`${field}.${key}`, 'a number of bytes ≥ 0', cap[key], 'out-of-range');
    }
  },
  download: (field, value) => {
    const settings = checkObject(field, value, 'an object of download settings such as { idleTimeoutMs: 30000 }');
    checkKeys(`${field}.`, settings, Object.keys(resolveRetryPolicy()));
    resolveRetryPolicy([settings], field);
  },
};

/**
 * Checks the options of `createGenerator`.
 * @throws InvalidParameterError naming the option
 */
export function checkGeneratorOptions<T extends object>(options: T): T {
  const record = checkObject('options', options, 'an object such as { model: "./models/flux1-schnell-q4/" }');
  checkKeys('', record, GENERATOR_KEYS);
  if (record.privacy !== undefined) oneOf('privacy', record.privacy, PRIVACY_MODES);
  if (record.providers !== undefined) {
    if (!Array.isArray(record.providers)) throw new InvalidParameterError('providers', 'an array of provider configs (e.g. [{ kind: "bfl", apiKey: "…" }]) or engines', record.providers, 'wrong-type');
    record.providers.forEach((provider, i) => checkObject(`providers[${i}]`, provider, 'a provider config such as { kind: "bfl", apiKey: "…" }, or an engine with generate()'));
  }
  if (typeof record.model === 'object' && record.model !== null) {
    // A model to import from the Hub: its own check names `model.from`, `model.weights`, …
    checkHubModelSource(record.model, 'model');
    checkLocal({ ...record, model: undefined });
  } else checkLocal(record);
  return options;
}

/**
 * Checks the options of `createLocalGenerator` (`model` required).
 * @throws InvalidParameterError naming the option
 */
export function checkLocalGeneratorOptions<T extends object>(options: T): T & { model: string } {
  const record = checkObject('options', options, 'an object such as { model: "./models/flux1-schnell-q4/" }');
  checkKeys('', record, LOCAL_KEYS);
  if (record.model === undefined) throw new InvalidParameterError('model', 'the URL of a web model package', undefined, 'missing');
  checkLocal(record);
  return options as T & { model: string };
}

function checkLocal(record: Record<string, unknown>): void {
  if (record.model !== undefined) {
    if (typeof record.model !== 'string') throw new InvalidParameterError('model', 'the URL of a web model package (text)', record.model, 'wrong-type');
    if (record.model.trim() === '') throw new InvalidParameterError('model', 'the URL of a web model package', record.model, 'missing');
    packageUrlOf(record.model);
  }
  if (record.allowAnySize !== undefined) boolean('allowAnySize', record.allowAnySize);
  if (record.memory !== undefined) oneOf('memory', record.memory, MEMORY_OPTIONS);
  if (record.engine !== undefined) {
    const engine = checkObject('engine', record.engine, 'an object of engine settings such as { numThreads: 1 }');
    checkKeys('engine.', engine, Object.keys(ENGINE_SETTINGS));
    for (const [key, check] of Object.entries(ENGINE_SETTINGS)) if (engine[key] !== undefined) check(`engine.${key}`, engine[key]);
  }
  if (record.worker !== undefined && typeof record.worker !== 'function' && !isWorker(record.worker)) {
    throw new InvalidParameterError('worker', 'a Worker running the generator worker script, or a function that starts one', record.worker, 'wrong-type');
  }
  checkWorkerLocation(record);
}

function isWorker(value: unknown): value is Worker {
  if (typeof Worker !== 'undefined' && value instanceof Worker) return true;
  const w = value as Partial<Worker> | null;
  return typeof w === 'object' && w !== null && typeof w.postMessage === 'function' && typeof w.terminate === 'function' && typeof w.addEventListener === 'function';
}

function checkObject(field: string, value: unknown, allowed: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidParameterError(field, allowed, value, value === undefined || value === null ? 'missing' : 'wrong-type');
  }
  return value as Record<string, unknown>;
}

function checkKeys(prefix: string, record: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(record)) {
    if (!known.includes(key) && record[key] !== undefined) {
      throw new InvalidParameterError(`${prefix}${key}`, `not an option here (the options: ${known.join(', ')})`, record[key], 'unknown-field');
    }
  }
}

function integer(field: string, value: unknown, min: number, max: number): void {
  const allowed = `an integer from ${min} to ${max}`;
  if (typeof value !== 'number') throw new InvalidParameterError(field, allowed, value, 'wrong-type');
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidParameterError(field, allowed, value, 'out-of-range');
}

function boolean(field: string, value: unknown): void {
  if (typeof value !== 'boolean') throw new InvalidParameterError(field, 'true or false', value, 'wrong-type');
}

function oneOf(field: string, value: unknown, allowed: readonly string[]): void {
  if (!allowed.includes(value as string)) throw new InvalidParameterError(field, `one of ${allowed.join(', ')}`, value, typeof value === 'string' ? 'not-one-of' : 'wrong-type');
}
