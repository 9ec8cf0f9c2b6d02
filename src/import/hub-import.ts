/**
 * The in-page import: a model on the Hub → the converter (the same code as
 * `npx flux-webgpu convert`) → the weight store, tensor by tensor. Runs in the import
 * worker (`workers/import.worker.ts`); browser-only APIs, no DOM.
 *
 * 1. Lists the repositories and reads configs and tensor headers (a few hundred kB).
 * 2. From the conversion plan: checks the device (WebGPU, buffer limits, a trial
 *    allocation of the largest weight buffer) and the free storage quota against the
 *    package's estimated size, before the first tensor byte is requested.
 * 3. Converts graph by graph into the store. A dropped connection resumes at the byte
 *    it reached (the Hub reader's retries); a failure or a reload keeps the graphs
 *    written so far, and the next import of the same source resumes at the next graph.
 * 4. Commits: the package appears complete (with its manifest) all at once.
 *
 * Only the source files are requested: the listing, the model cards (for `planHubImport`),
 * and ranges of the files the conversion reads.
 */
import type { ConversionPlan } from '../convert/conversion-plan.ts';
import { convertToPackage } from '../convert/convert.ts';
import { openHubRepository, openHubSourceFile, parseHubReference, readHubModelInfo, type HubOptions } from '../convert/hub-files.ts';
import type { PackageSink } from '../convert/package-sink.ts';
import type { SourceFile } from '../convert/override-files.ts';
import { capabilityError, createGpuContext, packageShortfalls } from '../engine/gpu-device.ts';
import { AbortedError, StorageQuotaError } from '../errors.ts';
import type { Manifest, PackageRequirements } from '../package/manifest.ts';
import { assertStorageAvailable } from '../store/storage-quota.ts';
import type { WeightStore } from '../store/weight-store.ts';
import { checkHubModelSource, describeHubModelSource, importedPackageUrl, type HubModelSource } from './hub-model-source.ts';
import { ImportProgress, type ImportProgressEvent } from './import-progress.ts';

/** The parts of the weight store an import uses. */
export type ImportStore = Pick<WeightStore, 'openImportSink' | 'readManifest' | 'listPackages'>;

/** Options of `importFromHub` and `planHubImport`. */
export interface HubImportOptions {
  store: ImportStore;
  /** Progress events (see `ImportProgressEvent`); must not throw. */
  onProgress?: (event: ImportProgressEvent) => void;
  /** Cancels: AbortedError; what was converted is kept for the next import. */
  signal?: AbortSignal;
  /**
   * Checks that this device can run the package, from the plan's requirements, before
   * the first tensor byte. Default: WebGPU with the buffer limits and a trial allocation
   * of the largest weight buffer (`DeviceCapabilityError` otherwise).
   */
  checkDevice?: (modelId: string, requirements: PackageRequirements) => Promise<void>;
  /** Hub requests: the fetch to use, retries (the `HubOptions` of `hub-files.ts`, without hubUrl/token, which come from the source). */
  hub?: Omit<HubOptions, 'hubUrl' | 'token' | 'onBytes'>;
}

/** What an import did. */
export interface HubImportResult {
  /** The imported package's URL: pass it as `model` to `createGenerator`. */
  packageUrl: string;
  modelId: string;
  /** True when the package was in the store already (nothing was requested). */
  alreadyStored: boolean;
  /** Graphs converted by this call, and kept from an interrupted earlier import. */
  graphsConverted: number;
  graphsKept: number;
  /** Source bytes received by this call (listing and model cards excluded). */
  bytesFetched: number;
  /** Bytes of the package's files (its manifest's sizes). */
  packageBytes: number;
}

/** The sizes and licences of an import, known before anything is converted. */
export interface HubImportPlan {
  packageUrl: string;
  modelId: string;
  /** Bytes still to download: tensor data and tokenizer files (plus the configs and headers read for this plan). */
  downloadBytes: number;
  /** Estimated bytes in the weight store once imported. */
  storedBytes: number;
  /** Bytes per source file (`hf:` label) still to download. */
  files: { file: string; bytes: number }[];
  /** Each repository's licence, as its model card declares it. */
  licenses: { repo: string; license?: string; gated: boolean }[];
  graphs: number;
  requirements: PackageRequirements;
  /** Bytes an interrupted import of the same source has stored already (it resumes), 0 when none. */
  resumableBytes: number;
  /** True when the package is stored completely already. */
  alreadyStored: boolean;
}

/** Thrown by `openSink` to stop after the plan (`planHubImport`). */
class PlanOnly extends Error {
  constructor(readonly plan: ConversionPlan) {
    super('plan only');
  }
}

/** The sources, opened (listings read). */
async function openSources(source: ReturnType<typeof checkHubModelSource>, hub: HubOptions) {
  const ref = parseHubReference(source.from, 'model.from');
  const override = async (value: string | undefined, field: string): Promise<SourceFile | undefined> => (value === undefined ? undefined : openHubSourceFile(value, field, hub));
  return {
    checkpoint: await openHubRepository(ref.repo, ref.revision, hub),
    transformer: await override(source.transformer, 'model.transformer'),
    textEncoder2: await override(source.textEncoder2, 'model.textEncoder2'),
    vae: await override(source.vae, 'model.vae'),
  };
}

/** A fetch that also stops when `signal` aborts. */
function abortableFetch(base: typeof fetch, signal: AbortSignal | undefined): typeof fetch {
  if (!signal) return base;
  return (input, init = {}) => {
    if (signal.aborted) return Promise.reject(new DOMException('The import was cancelled.', 'AbortError'));
    return base(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, signal]) : signal });
  };
}

/** The default device check: WebGPU, buffer limits, a trial allocation (on a device of its own, destroyed after). */
async function checkThisDevice(modelId: string, requirements: PackageRequirements): Promise<void> {
  const gpu = await createGpuContext();
  try {
    const manifest = { modelId, graphs: [], requirements } as unknown as Manifest;
    const shortfalls = await packageShortfalls(manifest, gpu);
    if (shortfalls.length > 0) throw capabilityError(manifest, shortfalls);
  } finally {
    gpu.device.destroy();
  }
}

/** Runs `task` holding the import lock of `packageUrl`, so two tabs never write one package at once. */
async function withImportLock<T>(packageUrl: string, signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T> {
  const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
  if (!locks) return task();
  try {
    return await locks.request(`flux-webgpu-import ${packageUrl}`, signal ? { signal } : {}, task);
  } catch (error) {
    if (signal?.aborted && (error as { name?: string } | null)?.name === 'AbortError') throw new AbortedError('The import was cancelled; what was converted is kept, and the next import resumes.');
    throw error;
  }
}

/** The state the import keeps in the store beside the converter's. */
interface SavedImportState {
  converter: string;
  /** Source bytes received for the graphs finished so far, per file. */
  fetched: Record<string, number>;
}

/**
 * Imports a model from the Hub into the weight store (see the module comment). Resolves
 * at once, without a request, when the package is stored already.
 * @throws InvalidParameterError naming a field of `source`
 * @throws HubError (missing repository or file, gated without a token, token refused),
 *   CheckpointError (a GGUF of another architecture, an unsupported quant type, a
 *   checkpoint that is not FLUX), DeviceCapabilityError, StorageQuotaError (before the
 *   first tensor byte, or a full disk during the import), DownloadError / IntegrityError
 *   (a connection that keeps failing, a truncated or corrupted download), AbortedError.
 *   Except for bad input, what was converted is kept and the next call resumes.
 */
export async function importFromHub(sourceInput: HubModelSource, options: HubImportOptions): Promise<HubImportResult> {
  const source = checkHubModelSource(sourceInput);
  const packageUrl = importedPackageUrl(source);
  const { store, signal } = options;
  if (signal?.aborted) throw new AbortedError();
  const stored = await store.readManifest(packageUrl);
  if (stored) return resultOf(packageUrl, stored, { alreadyStored: true, converted: 0, kept: stored.graphs.length, fetched: 0 });

  return withImportLock(packageUrl, signal, async () => {
    // Another tab may have finished it while this one waited for the lock.
    const done = await store.readManifest(packageUrl);
    if (done) return resultOf(packageUrl, done, { alreadyStored: true, converted: 0, kept: done.graphs.length, fetched: 0 });
    const progress = new ImportProgress(packageUrl, (event) => options.onProgress?.(event));
    let fetched = 0;
    const hub: HubOptions = {
      ...options.hub,
      hubUrl: source.hubUrl,
      token: source.token,
      fetch: abortableFetch(options.hub?.fetch ?? globalThis.fetch.bind(globalThis), signal),
      onBytes: (file, bytes) => {
        fetched += bytes;
        progress.bytes(file, bytes);
      },
    };
    progress.setPhase('planning');
    let converted = 0;
    let kept = 0;
    let writing = false;
    try {
      const sources = await openSources(source, hub);
      const manifest = await convertToPackage({
        ...sources,
        weights: source.weights,
        maxShardMb: source.maxShardMb,
        modelId: source.modelId,
        openSink: async (plan) => {
          progress.planned(plan);
          const modelId = source.modelId ?? sources.checkpoint.name;
          await (options.checkDevice ?? checkThisDevice)(modelId, plan.requirements);
          const partial = (await store.listPackages()).find((p) => p.packageUrl === packageUrl);
          await assertStorageAvailable(plan.storedBytes - (partial?.bytesStored ?? 0));
          if (signal?.aborted) throw new AbortedError();
          const sink = await store.openImportSink(packageUrl, { modelId, source: describeHubModelSource(source), estimatedBytes: plan.storedBytes });
          writing = true;
          return trackingSink(sink, progress);
        },
        onGraph: (event) => {
          if (event.status === 'converting') progress.graphStarted(event.graph, event.index, event.count, false);
          else if (event.status === 'kept') progress.graphStarted(event.graph, event.index, event.count, true);
          if (event.status === 'written') converted += 1;
          if (event.status === 'kept') kept += 1;
          if (event.status !== 'converting' && event.index === event.count - 1) progress.setPhase('saving');
        },
      });
      progress.setPhase('done');
      return resultOf(packageUrl, manifest, { alreadyStored: false, converted, kept, fetched });
    } catch (error) {
      if (signal?.aborted || (error as { name?: string } | null)?.name === 'AbortError') {
        throw new AbortedError('The import was cancelled; what was converted is kept, and the next import resumes.');
      }
      if (writing && error instanceof StorageQuotaError) {
        throw new StorageQuotaError(
          `The browser refused to store more of the imported model: this site's storage is full (after ${converted + kept} of its graphs). ` +
            'Free disk space or delete stored models, then import again: it resumes with the graphs already converted.',
          error.neededBytes,
          error.availableBytes,
        );
      }
      throw error;
    }
  });
}

/**
 * The sizes and licences of an import, from the repositories' listings, configs, tensor
 * headers and model cards (a few hundred kB at most; no tensor data). Converts nothing.
 * @throws as `importFromHub`, before any tensor byte
 */
export async function planHubImport(sourceInput: HubModelSource, options: Pick<HubImportOptions, 'store' | 'signal' | 'hub'>): Promise<HubImportPlan> {
  const source = checkHubModelSource(sourceInput);
  const packageUrl = importedPackageUrl(source);
  const { store, signal } = options;
  const storedManifest = await store.readManifest(packageUrl);
  const partial = (await store.listPackages()).find((p) => p.packageUrl === packageUrl);
  const hub: HubOptions = { ...options.hub, hubUrl: source.hubUrl, token: source.token, fetch: abortableFetch(options.hub?.fetch ?? globalThis.fetch.bind(globalThis), signal) };
  let fetched = 0;
  const sources = await openSources(source, { ...hub, onBytes: (_, bytes) => (fetched += bytes) });
  let plan: ConversionPlan | undefined;
  try {
    await convertToPackage({
      ...sources,
      weights: source.weights,
      maxShardMb: source.maxShardMb,
      modelId: source.modelId,
      openSink: async (p) => {
        throw new PlanOnly(p);
      },
    });
  } catch (error) {
    if (!(error instanceof PlanOnly)) throw error;
    plan = error.plan;
  }
  const repos = [...new Set([source.from, source.transformer, source.textEncoder2, source.vae].filter((r): r is string => r !== undefined).map((r) => parseHubReference(r).repo))];
  const licenses = await Promise.all(repos.map((repo) => readHubModelInfo(repo, hub)));
  return {
    packageUrl,
    modelId: source.modelId ?? sources.checkpoint.name,
    downloadBytes: fetched + plan!.readBytes,
    storedBytes: plan!.storedBytes,
    files: Object.entries(plan!.reads).map(([file, bytes]) => ({ file, bytes })),
    licenses,
    graphs: plan!.graphs.length,
    requirements: plan!.requirements,
    resumableBytes: storedManifest ? 0 : partial?.bytesStored ?? 0,
    alreadyStored: storedManifest !== undefined,
  };
}

/** The sink with progress: bytes written, and the fetched-bytes accounting kept in the saved state. */
function trackingSink(sink: PackageSink, progress: ImportProgress): PackageSink {
  return {
    ...sink,
    async create(path) {
      const file = await sink.create(path);
      return {
        async write(bytes) {
          await file.write(bytes);
          progress.wrote(bytes.byteLength);
        },
        close: () => file.close(),
      };
    },
    async loadState() {
      const text = await sink.loadState();
      if (!text) return null;
      try {
        const saved = JSON.parse(text) as SavedImportState;
        if (typeof saved.converter !== 'string') return null;
        progress.resumeFrom(saved.fetched ?? {});
        return saved.converter;
      } catch {
        return null;
      }
    },
    saveState: (state) => sink.saveState(JSON.stringify({ converter: state, fetched: progress.finishedGraphBytes() } satisfies SavedImportState)),
    async clear() {
      progress.resumeFrom({});
      await sink.clear();
    },
  };
}

function resultOf(packageUrl: string, manifest: Manifest, counts: { alreadyStored: boolean; converted: number; kept: number; fetched: number }): HubImportResult {
  return {
    packageUrl,
    modelId: manifest.modelId,
    alreadyStored: counts.alreadyStored,
    graphsConverted: counts.converted,
    graphsKept: counts.kept,
    bytesFetched: counts.fetched,
    packageBytes: manifest.files.reduce((sum, f) => sum + f.size, 0),
  };
}
