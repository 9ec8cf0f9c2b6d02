/**
 * A `PackageSink` over the weight store: the converter writes a package straight into
 * IndexedDB, in the same layout a downloaded package has (file records and fixed-size
 * chunk Blobs, each chunk with its sha256), so the engine loads it like any other.
 *
 * - Each file is cut into chunks as it is written (one chunk buffer per open file); its
 *   size and sha256 are known only when it is closed (`writingFileRecord`).
 * - While the import runs, the package record carries `importing` (the converter's saved
 *   state): `listPackages` shows it incomplete, whatever its files say, and the engine
 *   cannot load it (there is no `manifest.json` yet).
 * - `commit` checks every file against the manifest (size and sha256), removes strays,
 *   and stores `manifest.json` together with the package record without `importing`, in
 *   one transaction: the package appears complete all at once or not at all.
 * - `abort(true)` keeps everything for a resume; `abort(false)` deletes the package.
 */
import type { PackageSink, SinkFile } from '../convert/package-sink.ts';
import { IntegrityError } from '../errors.ts';
import { parseManifest } from '../package/manifest.ts';
import { writingFileRecord, type ChunkedFileStore, type PackageImportRecord, type StoredFileRecord, type StoredPackageRecord } from './chunked-file-store.ts';
import { createIncrementalSha256, sha256Hex } from './sha256.ts';

/** The package's own description file, stored like its other files but not listed in its manifest. */
export const MANIFEST_FILE = 'manifest.json';

/** What an import sink needs to know about the package it writes. */
export interface ImportSinkOptions {
  /** Model id shown by `listPackages` (the manifest's, once known). */
  modelId?: string;
  /** What is imported, for people. */
  source: string;
  /** Estimated bytes of the finished package. */
  estimatedBytes: number;
  /** Bytes per stored chunk. */
  chunkSize: number;
}

/**
 * Opens a sink that writes the package `packageUrl` into `store`. An import already
 * under way there (its package record carries `importing`) is continued: its files and
 * saved state are kept for the converter to resume from. A complete package at that URL
 * is replaced (its files are deleted first).
 * @param packageUrl the package's key, absolute and ending in `/` (never fetched)
 */
export async function openStorePackageSink(store: ChunkedFileStore, packageUrl: string, options: ImportSinkOptions): Promise<PackageSink> {
  const existing = await store.getPackage(packageUrl);
  if (existing && !existing.importing) await store.deletePackage(packageUrl);
  let importing: PackageImportRecord = {
    source: options.source,
    estimatedBytes: options.estimatedBytes,
    state: existing?.importing?.state ?? null,
  };
  const packageRecord = (): StoredPackageRecord => ({ packageUrl, modelId: options.modelId, updatedAt: Date.now(), importing });
  await store.putPackage(packageRecord());

  const urlOf = (path: string) => new URL(path, packageUrl).href;
  return {
    async create(path) {
      await store.deleteFile(packageUrl, path);
      const record = writingFileRecord(packageUrl, path, urlOf(path), options.chunkSize);
      await store.putFileRecord(record);
      return chunkedWriter(store, record);
    },
    remove: (path) => store.deleteFile(packageUrl, path),
    async commit(manifestJson) {
      const manifest = parseManifest(JSON.parse(new TextDecoder().decode(manifestJson)), `${packageUrl}${MANIFEST_FILE}`);
      const listed = new Map(manifest.files.map((file) => [file.path, file]));
      for (const record of await store.listFileRecords(packageUrl)) {
        const file = listed.get(record.path);
        if (!file) {
          if (record.path !== MANIFEST_FILE) await store.deleteFile(packageUrl, record.path);
          continue;
        }
        if (!record.complete || record.size !== file.size || record.sha256 !== file.sha256) {
          throw new IntegrityError(`${record.path}: ${record.size} bytes with sha256 ${record.sha256 || '(unfinished)'} stored, the manifest says ${file.size} bytes with ${file.sha256}; import again`, record.path);
        }
        listed.delete(record.path);
      }
      if (listed.size > 0) throw new IntegrityError(`${[...listed.keys()].join(', ')}: listed in the manifest but not written; import again`, [...listed.keys()][0]);
      const chunks: Blob[] = [];
      const chunkSha256: string[] = [];
      for (let at = 0; at < manifestJson.byteLength; at += options.chunkSize) {
        const piece = manifestJson.slice(at, at + options.chunkSize);
        chunks.push(new Blob([piece]));
        chunkSha256.push(await sha256Hex(piece));
      }
      const file: StoredFileRecord = {
        ...writingFileRecord(packageUrl, MANIFEST_FILE, urlOf(MANIFEST_FILE), options.chunkSize),
        size: manifestJson.byteLength,
        sha256: await sha256Hex(manifestJson.slice()),
        chunkCount: chunks.length,
        chunkSha256,
        bytesStored: manifestJson.byteLength,
        complete: true,
      };
      await store.putFileAndPackage(file, chunks, { packageUrl, modelId: manifest.modelId, updatedAt: Date.now() });
    },
    async abort(keepForResume) {
      if (!keepForResume) await store.deletePackage(packageUrl);
    },
    async loadState() {
      return (await store.getPackage(packageUrl))?.importing?.state ?? null;
    },
    async saveState(state) {
      importing = { ...importing, state };
      await store.putPackage(packageRecord());
    },
    async clear() {
      await store.deletePackage(packageUrl);
      importing = { ...importing, state: null };
      await store.putPackage(packageRecord());
    },
  };
}

/**
 * Writes one file front to back into chunks of `record.chunkSize`: each full chunk is
 * hashed and stored with the updated record in one transaction; `close` stores the last
 * (short) chunk and completes the record with the file's size and sha256.
 */
async function chunkedWriter(store: ChunkedFileStore, initial: StoredFileRecord): Promise<SinkFile> {
  let record = initial;
  const whole = await createIncrementalSha256();
  const { chunkSize } = record;
  let buffer: Uint8Array<ArrayBuffer> | undefined;
  let filled = 0;

  const storeChunk = async () => {
    const bytes = buffer!.slice(0, filled);
    const index = record.chunkSha256.length;
    record = {
      ...record,
      chunkSha256: [...record.chunkSha256, await sha256Hex(bytes)],
      chunkCount: index + 1,
      bytesStored: record.bytesStored + filled,
      size: record.bytesStored + filled,
      updatedAt: Date.now(),
    };
    await store.putChunk(record, index, new Blob([bytes]));
    filled = 0;
  };

  return {
    async write(bytes) {
      whole.update(bytes);
      while (bytes.length > 0) {
        buffer ??= new Uint8Array(chunkSize);
        const piece = bytes.subarray(0, chunkSize - filled);
        buffer.set(piece, filled);
        filled += piece.length;
        bytes = bytes.subarray(piece.length);
        if (filled === chunkSize) await storeChunk();
      }
    },
    async close() {
      if (filled > 0) await storeChunk();
      buffer = undefined;
      record = { ...record, sha256: whole.digestHex(), complete: true, updatedAt: Date.now() };
      await store.putFileRecord(record);
    },
  };
}
