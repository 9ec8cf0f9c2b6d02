/**
 * The browser weight store: model files downloaded once into IndexedDB (idb-keyval, a
 * store of its own), as fixed-size chunk Blobs, and handed to onnxruntime as Blobs
 * composed of those chunks — never copied into one big ArrayBuffer. Works in a window
 * and in a worker; no DOM, no Node.
 *
 * ```ts
 * const store = new WeightStore();
 * await store.ensureFiles(packageUrl, manifest.files, { signal, onProgress, modelId: manifest.modelId });
 * const data = await store.getFile(packageUrl, graph.data);   // Blob for `externalData`
 * ```
 *
 * A package is identified by its folder URL (made absolute, ending in `/`); file paths are
 * relative to it, as in the manifest. See `download.ts` for streaming, resumption and
 * verification, `chunked-file-store.ts` for the IndexedDB layout.
 */
import { AbortedError, IntegrityError, ModelPackageError, throwIfAborted } from '../errors.ts';
import type { PackageSink } from '../convert/package-sink.ts';
import { parseManifest, type Manifest, type PackageFile } from '../package/manifest.ts';
import { packageUrlOf } from '../package/package-url.ts';
import type { ProgressEvent } from '../progress.ts';
import { ChunkedFileStore, emptyFileRecord, type StoredFileRecord } from './chunked-file-store.ts';
import { downloadFileToStore } from './download.ts';
import { resolveRetryPolicy, RetryBudget, type DownloadRetryOptions } from './download-retry.ts';
import { sha256Hex } from './sha256.ts';
import { assertStorageAvailable, requestPersistentStorage } from './storage-quota.ts';
import { MANIFEST_FILE, openStorePackageSink, type ImportSinkOptions } from './store-package-sink.ts';
import { WEIGHT_STORE_DEFAULTS } from './weight-store-defaults.ts';

/** Byte progress of a download, per file and in total (the `download` stage of {@link ProgressEvent}). */
export type DownloadProgressEvent = Extract<ProgressEvent, { stage: 'download' }>;

/** Options of {@link WeightStore}. */
export interface WeightStoreOptions {
  /** IndexedDB database name (default {@link WEIGHT_STORE_DEFAULTS}.dbName); must not be shared with another idb-keyval store. */
  dbName?: string;
  /** Object store name (default {@link WEIGHT_STORE_DEFAULTS}.storeName). */
  storeName?: string;
  /**
   * Bytes per stored chunk for files stored from now on (default 8 MiB, at least 64 KiB).
   * Files already stored keep the chunk size they were stored with.
   */
  chunkSizeBytes?: number;
  /** Least time between two progress events, in milliseconds (default 100; 0 reports every piece of every body). */
  progressIntervalMs?: number;
  /** Idle timeout and automatic retries of downloads (see {@link DownloadRetryOptions} for the defaults). */
  retry?: DownloadRetryOptions;
}

/** Options of {@link WeightStore.ensureFiles}. */
export interface EnsureFilesOptions {
  /** Cancels the download with AbortedError; bytes already stored are kept for the next call. */
  signal?: AbortSignal;
  /**
   * Byte progress, at most every `progressIntervalMs` per call, plus the start and the end
   * of each file. `loaded`/`total` are bytes of `file`; `totalLoaded`/`totalBytes` are
   * bytes of all the files passed, counting what was stored before. Must not throw.
   */
  onProgress?: (event: DownloadProgressEvent) => void;
  /** `fetch` to use (default `globalThis.fetch`), e.g. one that adds headers. */
  fetch?: typeof fetch;
  /** Model id to show in {@link WeightStore.listPackages} (e.g. the manifest's `modelId`). */
  modelId?: string;
  /** Idle timeout and retries for this call (over the store's `retry` option). */
  retry?: DownloadRetryOptions;
}

/** Options of {@link WeightStore.getFile}. */
export interface GetFileOptions {
  /**
   * Check every chunk's sha256 before returning: reads the whole file once from disk.
   * Default: true for files stored without the manifest's chunk hashes; false for files
   * whose every chunk was checked against the manifest when it was written.
   */
  verify?: boolean;
}

/** One stored file as the cache view shows it. */
export interface StoredFileInfo {
  /** Path relative to the package. */
  path: string;
  /** Size of the whole file, in bytes. */
  size: number;
  /** Lower-case hex sha256 from the manifest. */
  sha256: string;
  /** Bytes stored so far. */
  bytesStored: number;
  /** Whether the file is stored completely and verified. */
  complete: boolean;
}

/** One stored package as the cache view shows it. */
export interface StoredPackageInfo {
  /** Absolute URL of the package folder, ending in `/`. */
  packageUrl: string;
  /** Model id given to `ensureFiles`, if any. */
  modelId?: string;
  /** Every file of the package the store knows of. */
  files: StoredFileInfo[];
  /** Bytes stored for the package, in bytes. */
  bytesStored: number;
  /** Size of all its known files, in bytes. */
  bytesTotal: number;
  /** Whether every known file is complete (and, for an imported package, the import committed it). */
  complete: boolean;
  /** Present while an in-page import writes the package, or when one stopped before the end (it resumes). */
  importing?: { source: string; estimatedBytes: number };
}

/** Model files in IndexedDB: download once (resumably), verify, hand out as Blobs, list and delete. */
export class WeightStore {
  private readonly files: ChunkedFileStore;
  private readonly chunkSize: number;
  private readonly progressIntervalMs: number;
  private readonly retry?: DownloadRetryOptions;

  /**
   * Opens (lazily) the store; nothing is read or written until a method is called.
   * @throws InvalidParameterError naming a `retry` field that is not a whole number ≥ 0
   */
  constructor(options: WeightStoreOptions = {}) {
    resolveRetryPolicy([options.retry]);
    this.retry = options.retry;
    this.files = new ChunkedFileStore(options.dbName ?? WEIGHT_STORE_DEFAULTS.dbName, options.storeName ?? WEIGHT_STORE_DEFAULTS.storeName);
    this.chunkSize = Math.max(64 * 1024, Math.floor(options.chunkSizeBytes ?? WEIGHT_STORE_DEFAULTS.chunkSizeBytes));
    this.progressIntervalMs = Math.max(0, options.progressIntervalMs ?? WEIGHT_STORE_DEFAULTS.progressIntervalMs);
  }

  /**
   * Makes sure every file is stored completely and verified, downloading what is missing
   * one file after another (resuming partly stored files with `Range: bytes=N-`).
   * Before the first byte is requested: asks once for persistent storage and checks the
   * free quota against the bytes still needed. Resolves without a request or a progress
   * event when everything is stored already.
   * @param packageUrl URL of the package folder (relative URLs resolve against the page/worker location)
   * @param files the manifest's files: path relative to the package, size in bytes, sha256 in hex
   * @throws StorageQuotaError before any request when the quota is short, or when a write is refused
   * Faults are retried (see {@link DownloadRetryOptions}): an idle timeout per request,
   * backoff with jitter, resumption at the exact byte; each retry is announced by a
   * `download` event with `status: 'retrying'`.
   * @throws DownloadError on an HTTP error that is not retried (404, …) (stored bytes are kept; call again to resume)
   * @throws DownloadRetriesExhaustedError when the retries ran out (stored bytes are kept)
   * @throws AbortedError when `signal` aborts (stored bytes are kept)
   * @throws IntegrityError when a file does not match its size or whole-file sha256 (its data is dropped; calling again downloads it anew), or a chunk keeps failing its manifest sha256 (the chunks before it are kept)
   * @throws InvalidParameterError naming a `retry` field that is not a whole number ≥ 0
   */
  async ensureFiles(packageUrl: string, files: readonly PackageFile[], options: EnsureFilesOptions = {}): Promise<void> {
    const { signal, onProgress, modelId } = options;
    const base = packageUrlOf(packageUrl, undefined, 'packageUrl');
    const policy = resolveRetryPolicy([this.retry, options.retry]);
    throwIfAborted(signal);

    const records = await Promise.all(files.map((file) => this.currentRecord(base, file)));
    const pending = records.filter((record) => !record.complete);
    await this.recordPackage(base, modelId, pending.length > 0);
    if (pending.length === 0) return;

    const totalBytes = records.reduce((sum, record) => sum + record.size, 0);
    const storedBefore = records.reduce((sum, record) => sum + record.bytesStored, 0);
    await requestPersistentStorage();
    await assertStorageAvailable(totalBytes - storedBefore);

    let totalLoadedOfOthers = records.reduce((sum, record) => sum + (record.complete ? record.size : 0), 0);
    const budget = new RetryBudget(policy);
    for (const pendingRecord of pending) {
      throwIfAborted(signal);
      const file = pendingRecord.path;
      let lastEmit = -Infinity;
      let loadedNow = pendingRecord.bytesStored;
      const emit = (loaded: number, force: boolean) => {
        loadedNow = loaded;
        const now = Date.now();
        if (!onProgress || (!force && now - lastEmit < this.progressIntervalMs)) return;
        lastEmit = now;
        onProgress({ stage: 'download', file, loaded, total: pendingRecord.size, totalLoaded: totalLoadedOfOthers + loaded, totalBytes });
      };
      let started = false;
      await withFileLock(`${base}${file}`, signal, async () => {
        // Another tab or call may have stored the file meanwhile.
        const record = await this.currentRecord(base, files[records.indexOf(pendingRecord)]);
        if (record.complete) return;
        await downloadFileToStore(this.files, record, {
          signal,
          fetch: options.fetch,
          retry: policy,
          budget,
          onBytes: (loaded) => {
            emit(loaded, !started);
            started = true;
          },
          onRetry: (notice) => {
            const { size } = pendingRecord;
            onProgress?.({ stage: 'download', status: 'retrying', file, loaded: loadedNow, total: size, totalLoaded: totalLoadedOfOthers + loadedNow, totalBytes, ...notice });
          },
        });
      });
      emit(pendingRecord.size, true);
      totalLoadedOfOthers += pendingRecord.size;
    }
  }

  /**
   * Records every file of a package (as not yet stored) without downloading anything, so
   * that storing only some of them (e.g. the tokenizers, to count tokens) lists the package
   * as partial with its full size rather than as complete. Files already known are kept.
   * @param packageUrl URL of the package folder
   * @param files the manifest's files
   */
  async registerFiles(packageUrl: string, files: readonly PackageFile[], modelId?: string): Promise<void> {
    const base = packageUrlOf(packageUrl, undefined, 'packageUrl');
    await this.recordPackage(base, modelId, false);
    for (const file of files) {
      const known = await this.files.getFileRecord(base, file.path);
      if (!known) await this.files.putFileRecord(await this.currentRecord(base, file));
    }
  }

  /**
   * The stored file as one Blob composed of its chunk Blobs (no copy into JS memory), for
   * onnxruntime's `externalData` or `InferenceSession.create`.
   * With `verify` (default), every chunk is read once and checked against its sha256
   * (one chunk in memory at a time); a corrupted or missing chunk is removed with all
   * chunks after it, so the next `ensureFiles` downloads from there.
   * @param packageUrl URL of the package folder
   * @param path file path relative to the package
   * @throws ModelPackageError when the file is not stored completely (call `ensureFiles` first)
   * @throws IntegrityError naming the file when a chunk fails its check
   */
  async getFile(packageUrl: string, path: string, options: GetFileOptions = {}): Promise<Blob> {
    const base = packageUrlOf(packageUrl, undefined, 'packageUrl');
    const record = await this.files.getFileRecord(base, path);
    if (!record?.complete) {
      const stored = record ? ` (${record.bytesStored} of ${record.size} bytes stored)` : '';
      throw new ModelPackageError(`${path} of ${base} is not in the weight store${stored}; call ensureFiles first`, path, 'not-stored');
    }
    const chunks = await this.files.getChunks(base, path, record.chunkCount);
    if (options.verify ?? record.expectedChunkSha256 === undefined) {
      for (let index = 0; index < chunks.length; index++) {
        const chunk = chunks[index];
        const expectedLength = Math.min(record.chunkSize, record.size - index * record.chunkSize);
        const intact = chunk !== undefined && chunk.size === expectedLength && (await sha256Hex(new Uint8Array(await chunk.arrayBuffer()))) === record.chunkSha256[index];
        if (!intact) {
          await this.files.truncateFile(record, index);
          const start = index * record.chunkSize;
          throw new IntegrityError(
            `${path}: stored chunk ${index} (bytes ${start}–${start + expectedLength - 1}) is ${chunk ? 'corrupted' : 'missing'}; ` +
              'it was removed, call ensureFiles to download it again',
            path,
            'chunk-corrupted',
          );
        }
      }
    }
    return new Blob(chunks as Blob[], { type: 'application/octet-stream' });
  }

  /**
   * `ensureFiles`, then `getFile` for each file; a file whose stored chunks fail their check
   * is downloaded again once. Returns the Blobs by path, in the order given.
   * @throws as `ensureFiles` and `getFile`
   */
  async getVerifiedFiles(packageUrl: string, files: readonly PackageFile[], options: EnsureFilesOptions = {}): Promise<Map<string, Blob>> {
    await this.ensureFiles(packageUrl, files, options);
    const blobs = new Map<string, Blob>();
    for (const file of files) {
      throwIfAborted(options.signal);
      try {
        blobs.set(file.path, await this.getFile(packageUrl, file.path));
      } catch (error) {
        if (!(error instanceof IntegrityError)) throw error;
        await this.ensureFiles(packageUrl, [file], options);
        blobs.set(file.path, await this.getFile(packageUrl, file.path));
      }
    }
    return blobs;
  }

  /** Every package with stored data or a started download: files, bytes stored and total, completeness. */
  async listPackages(): Promise<StoredPackageInfo[]> {
    const [packages, records] = await Promise.all([this.files.listPackages(), this.files.listFileRecords()]);
    const byUrl = new Map<string, StoredPackageInfo>();
    const entry = (packageUrl: string) => {
      let info = byUrl.get(packageUrl);
      if (!info) byUrl.set(packageUrl, (info = { packageUrl, files: [], bytesStored: 0, bytesTotal: 0, complete: true }));
      return info;
    };
    for (const record of packages) {
      const info = entry(record.packageUrl);
      if (record.modelId !== undefined) info.modelId = record.modelId;
      if (record.importing) info.importing = { source: record.importing.source, estimatedBytes: record.importing.estimatedBytes };
    }
    for (const record of records) {
      const info = entry(record.packageUrl);
      info.files.push({ path: record.path, size: record.size, sha256: record.sha256, bytesStored: record.bytesStored, complete: record.complete });
      info.bytesStored += record.bytesStored;
      info.bytesTotal += record.size;
      info.complete &&= record.complete;
    }
    for (const info of byUrl.values()) {
      if (!info.importing) continue;
      info.complete = false;
      info.bytesTotal = Math.max(info.bytesTotal, info.importing.estimatedBytes);
    }
    return [...byUrl.values()];
  }

  /**
   * A sink that writes a converted package into the store under `packageUrl` (a key,
   * never fetched), for `convertToPackage`: see `store-package-sink.ts`. An interrupted
   * import of the same package is continued.
   */
  openImportSink(packageUrl: string, options: Omit<ImportSinkOptions, 'chunkSize'>): Promise<PackageSink> {
    return openStorePackageSink(this.files, packageUrlOf(packageUrl, undefined, 'packageUrl'), { ...options, chunkSize: this.chunkSize });
  }

  /**
   * The manifest of a package kept in the store (an imported one), or undefined when the
   * store holds no complete `manifest.json` for it.
   * @throws ModelPackageError when the stored manifest is not valid
   */
  async readManifest(packageUrl: string): Promise<Manifest | undefined> {
    const base = packageUrlOf(packageUrl, undefined, 'packageUrl');
    const record = await this.files.getFileRecord(base, MANIFEST_FILE);
    if (!record?.complete) return undefined;
    const text = await (await this.getFile(base, MANIFEST_FILE)).text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new ModelPackageError(`${base}${MANIFEST_FILE} in the weight store is not valid JSON: ${(error as Error).message}`, MANIFEST_FILE);
    }
    return parseManifest(json, `${base}${MANIFEST_FILE}`);
  }

  /**
   * Deletes a package's stored files (complete and partial) and its record.
   * Do not call it while `ensureFiles` is downloading the same package.
   * @param packageUrl URL of the package folder, as given to `ensureFiles`
   */
  async deletePackage(packageUrl: string): Promise<void> {
    await this.files.deletePackage(packageUrlOf(packageUrl, undefined, 'packageUrl'));
  }

  /** Deletes every stored package. */
  async deleteAll(): Promise<void> {
    await this.files.clear();
  }

  /** Bytes of model data stored for all packages (file bytes, without IndexedDB's own overhead). */
  async bytesUsed(): Promise<number> {
    const records = await this.files.listFileRecords();
    return records.reduce((sum, record) => sum + record.bytesStored, 0);
  }

  /**
   * The file's stored record, reset (data dropped) when it was stored for a different
   * size or sha256 than the manifest now gives; a new empty record when there is none.
   * With the manifest's chunk hashes (then chunks have the manifest's size), a record
   * stored without them adopts them: chunks whose own sha256 matches are kept, the file is
   * cut back at the first that does not (a string comparison; nothing is re-read).
   */
  private async currentRecord(base: string, file: PackageFile): Promise<StoredFileRecord> {
    const stored = await this.files.getFileRecord(base, file.path);
    const url = new URL(file.path, base).href;
    const expected = file.chunkSha256 && file.chunkSize ? file.chunkSha256.map((hash) => hash.toLowerCase()) : undefined;
    const chunkSize = expected ? file.chunkSize! : this.chunkSize;
    if (stored && stored.size === file.size && stored.sha256 === file.sha256.toLowerCase() && stored.url === url) {
      if (!expected || sameList(stored.expectedChunkSha256, expected)) return stored;
      if (stored.chunkSize === chunkSize) {
        const fullChunks = stored.complete ? stored.chunkCount : Math.floor(stored.bytesStored / chunkSize);
        let matching = 0;
        while (matching < fullChunks && stored.chunkSha256[matching] === expected[matching]) matching++;
        const adopted = matching === fullChunks ? stored : await this.files.truncateFile(stored, matching);
        const record: StoredFileRecord = { ...adopted, expectedChunkSha256: expected };
        await this.files.putFileRecord(record);
        return record;
      }
    }
    if (stored && stored.bytesStored > 0) await this.files.truncateFile(stored, 0);
    return emptyFileRecord(base, file.path, url, file.size, file.sha256, chunkSize, expected);
  }

  private async recordPackage(packageUrl: string, modelId: string | undefined, downloading: boolean): Promise<void> {
    const existing = await this.files.getPackage(packageUrl);
    if (existing && !downloading && (modelId === undefined || existing.modelId === modelId)) return;
    await this.files.putPackage({ packageUrl, modelId: modelId ?? existing?.modelId, updatedAt: Date.now() });
  }
}

function sameList(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((value, i) => value === b[i]);
}

/**
 * Runs `task` holding an exclusive Web Lock named after the file, so that two tabs (or two
 * calls) never write the same file at once; runs it directly where Web Locks are missing.
 */
async function withFileLock(name: string, signal: AbortSignal | undefined, task: () => Promise<void>): Promise<void> {
  const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
  if (!locks) return task();
  try {
    await locks.request(`flux-webgpu-weights ${name}`, signal ? { signal } : {}, task);
  } catch (error) {
    if (signal?.aborted && (error as { name?: string } | null)?.name === 'AbortError') throw new AbortedError();
    throw error;
  }
}
