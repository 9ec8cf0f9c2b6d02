/**
 * The IndexedDB layout of the weight store (through idb-keyval, with a store of its own):
 * a record per package, a record per file, and each file's bytes as fixed-size chunks
 * stored as Blobs. Browser and worker code; no DOM, no Node.
 *
 * Keys are arrays, so that one key range selects a package's or a file's entries:
 * - `['package', packageUrl]`              → {@link StoredPackageRecord}
 * - `['file', packageUrl, path]`            → {@link StoredFileRecord}
 * - `['chunk', packageUrl, path, index]`   → Blob of chunk `index` (0-based)
 *
 * Invariant: a file's stored bytes are always a prefix of the file. Chunks
 * `0 … ceil(bytesStored / chunkSize) − 1` exist; all but the last hold `chunkSize` bytes,
 * the last may be shorter (an interrupted download flushes what it had). A chunk and the
 * file record that accounts for it are written in one transaction.
 */
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval';
import { StorageQuotaError } from '../errors.ts';

/** What the store knows about one package (a URL prefix ending in `/`). */
export interface StoredPackageRecord {
  /** Absolute URL of the package folder, ending in `/`. */
  packageUrl: string;
  /** Model id given by the caller (e.g. the manifest's `modelId`), if any. */
  modelId?: string;
  /** When a file of the package was last written, in ms since the epoch. */
  updatedAt: number;
  /**
   * Present while an in-page import writes the package (`store-package-sink.ts`): the
   * package is not complete, whatever its files say, until the import commits it.
   */
  importing?: PackageImportRecord;
}

/** An import in progress (or interrupted, kept for a resume). */
export interface PackageImportRecord {
  /** What is imported, for people (e.g. `hf:black-forest-labs/FLUX.1-schnell, q4`). */
  source: string;
  /** Estimated bytes of the finished package. */
  estimatedBytes: number;
  /** The state the import saved after its last finished graph (opaque JSON), or null. */
  state: string | null;
}

/** What the store knows about one file of a package. */
export interface StoredFileRecord {
  /** Absolute URL of the package folder, ending in `/`. */
  packageUrl: string;
  /** Path of the file relative to the package (as in the manifest). */
  path: string;
  /** Absolute URL the file is downloaded from. */
  url: string;
  /** Size of the whole file from the manifest, in bytes. */
  size: number;
  /** Lower-case hex sha256 of the whole file from the manifest. */
  sha256: string;
  /** Bytes per chunk for this file (chunks are this size except the file's last). */
  chunkSize: number;
  /** Number of chunks of the complete file: ceil(size / chunkSize). */
  chunkCount: number;
  /** Lower-case hex sha256 of each chunk stored so far (the last one may be partial). */
  chunkSha256: string[];
  /**
   * The manifest's sha256 of each chunk, when it gives them (then `chunkSize` is the
   * manifest's): every full chunk was checked against these before it was stored, so the
   * file is not hashed again when it is read.
   */
  expectedChunkSha256?: string[];
  /** Bytes of the file stored so far, a prefix of the file. */
  bytesStored: number;
  /** True once every byte is stored and the whole-file sha256 matched the manifest. */
  complete: boolean;
  /** When the record was last written, in ms since the epoch. */
  updatedAt: number;
}

type PackageKey = ['package', string];
type FileKey = ['file', string, string];
type ChunkKey = ['chunk', string, string, number];

/** IndexedDB key of a package record. */
export function packageKey(packageUrl: string): PackageKey {
  return ['package', packageUrl];
}

/** IndexedDB key of a file record. */
export function fileKey(packageUrl: string, path: string): FileKey {
  return ['file', packageUrl, path];
}

/** IndexedDB key of chunk `index` (0-based) of a file. */
export function chunkKey(packageUrl: string, path: string, index: number): ChunkKey {
  return ['chunk', packageUrl, path, index];
}

/** An empty array sorts after every string and number, so `[...prefix, []]` bounds a prefix from above. */
const AFTER_ALL: never[] = [];

function prefixRange(prefix: IDBValidKey[]): IDBKeyRange {
  return IDBKeyRange.bound(prefix, [...prefix, AFTER_ALL]);
}

/** Bytes in chunk `index` of a complete file of `size` bytes cut into `chunkSize`-byte chunks. */
export function chunkLength(size: number, chunkSize: number, index: number): number {
  return Math.max(0, Math.min(chunkSize, size - index * chunkSize));
}

/**
 * A new, empty file record (nothing stored yet).
 * @param expectedChunkSha256 the manifest's per-chunk sha256 (then `chunkSize` must be the manifest's chunk size)
 */
export function emptyFileRecord(packageUrl: string, path: string, url: string, size: number, sha256: string, chunkSize: number, expectedChunkSha256?: string[]): StoredFileRecord {
  return {
    ...(expectedChunkSha256 ? { expectedChunkSha256: expectedChunkSha256.map((hash) => hash.toLowerCase()) } : {}),
    packageUrl,
    path,
    url,
    size,
    sha256: sha256.toLowerCase(),
    chunkSize,
    chunkCount: Math.ceil(size / chunkSize),
    chunkSha256: [],
    bytesStored: 0,
    complete: false,
    updatedAt: Date.now(),
  };
}

/**
 * The record of a file written in place (by an import) rather than downloaded: its size
 * and sha256 are known only when it is closed, so `size` grows with `bytesStored`,
 * `sha256` is empty and `chunkCount` counts the chunks stored, until the writer closes it
 * (then it is complete like a downloaded file's).
 * @param url the file's URL under the package URL (never fetched)
 */
export function writingFileRecord(packageUrl: string, path: string, url: string, chunkSize: number): StoredFileRecord {
  return { ...emptyFileRecord(packageUrl, path, url, 0, '', chunkSize), chunkCount: 0 };
}

/** Reads and writes packages, file records and chunks in one idb-keyval store. */
export class ChunkedFileStore {
  private readonly store: UseStore;

  /**
   * @param dbName IndexedDB database name (used by this store alone)
   * @param storeName object store name inside it
   */
  constructor(dbName: string, storeName: string) {
    this.store = createStore(dbName, storeName);
  }

  /** The package record, or undefined when the package is unknown. */
  getPackage(packageUrl: string): Promise<StoredPackageRecord | undefined> {
    return this.read((s) => s.get(packageKey(packageUrl)));
  }

  /** Creates or replaces a package record. */
  putPackage(record: StoredPackageRecord): Promise<void> {
    return this.write((s) => s.put(record, packageKey(record.packageUrl)));
  }

  /** Every package record. */
  listPackages(): Promise<StoredPackageRecord[]> {
    return this.read((s) => s.getAll(prefixRange(['package'])));
  }

  /** The file record, or undefined when the file was never stored. */
  getFileRecord(packageUrl: string, path: string): Promise<StoredFileRecord | undefined> {
    return this.read((s) => s.get(fileKey(packageUrl, path)));
  }

  /** Every file record of one package, or of all packages when `packageUrl` is omitted. */
  listFileRecords(packageUrl?: string): Promise<StoredFileRecord[]> {
    return this.read((s) => s.getAll(prefixRange(packageUrl === undefined ? ['file'] : ['file', packageUrl])));
  }

  /** Creates or replaces a file record (without touching its chunks). */
  putFileRecord(record: StoredFileRecord): Promise<void> {
    return this.write((s) => s.put(record, fileKey(record.packageUrl, record.path)));
  }

  /**
   * Stores chunk `index` and the file record that accounts for it, atomically.
   * @throws StorageQuotaError when the browser refuses the write for lack of space
   */
  putChunk(record: StoredFileRecord, index: number, chunk: Blob): Promise<void> {
    return this.write((s) => {
      s.put(chunk, chunkKey(record.packageUrl, record.path, index));
      s.put(record, fileKey(record.packageUrl, record.path));
    });
  }

  /** The Blob of chunk `index`, or undefined when it is missing. */
  getChunk(packageUrl: string, path: string, index: number): Promise<Blob | undefined> {
    return this.read((s) => s.get(chunkKey(packageUrl, path, index)));
  }

  /** Chunks `0 … count − 1` of a file (undefined where one is missing), read in one transaction. */
  getChunks(packageUrl: string, path: string, count: number): Promise<(Blob | undefined)[]> {
    return this.store('readonly', (s) =>
      Promise.all(Array.from({ length: count }, (_, i) => promisifyRequest<Blob | undefined>(s.get(chunkKey(packageUrl, path, i))))),
    );
  }

  /**
   * Cuts a file back to its first `keepChunks` chunks: deletes the later chunks and
   * writes the record as incomplete, atomically.
   * @returns the record as written
   */
  async truncateFile(record: StoredFileRecord, keepChunks: number): Promise<StoredFileRecord> {
    const kept = Math.max(0, Math.min(keepChunks, record.chunkSha256.length));
    const truncated: StoredFileRecord = {
      ...record,
      chunkSha256: record.chunkSha256.slice(0, kept),
      bytesStored: Math.min(record.bytesStored, kept * record.chunkSize),
      complete: false,
      updatedAt: Date.now(),
    };
    await this.write((s) => {
      s.delete(IDBKeyRange.bound(chunkKey(record.packageUrl, record.path, kept), ['chunk', record.packageUrl, record.path, AFTER_ALL]));
      s.put(truncated, fileKey(record.packageUrl, record.path));
    });
    return truncated;
  }

  /** Deletes one file's record and chunks. */
  deleteFile(packageUrl: string, path: string): Promise<void> {
    return this.write((s) => {
      s.delete(prefixRange(['chunk', packageUrl, path]));
      s.delete(fileKey(packageUrl, path));
    });
  }

  /** Stores a file whole (its record and chunks) and the package record, atomically (an import's last step). */
  putFileAndPackage(file: StoredFileRecord, chunks: Blob[], pkg: StoredPackageRecord): Promise<void> {
    return this.write((s) => {
      s.delete(prefixRange(['chunk', file.packageUrl, file.path]));
      chunks.forEach((chunk, index) => s.put(chunk, chunkKey(file.packageUrl, file.path, index)));
      s.put(file, fileKey(file.packageUrl, file.path));
      s.put(pkg, packageKey(pkg.packageUrl));
    });
  }

  /** Deletes a package's record, file records and chunks. */
  deletePackage(packageUrl: string): Promise<void> {
    return this.write((s) => {
      s.delete(prefixRange(['chunk', packageUrl]));
      s.delete(prefixRange(['file', packageUrl]));
      s.delete(packageKey(packageUrl));
    });
  }

  /** Deletes everything in the store. */
  clear(): Promise<void> {
    return this.write((s) => s.clear());
  }

  /** Number of chunk entries stored for a package (or for all packages), for checks and tests. */
  countChunks(packageUrl?: string): Promise<number> {
    return this.read((s) => s.count(prefixRange(packageUrl === undefined ? ['chunk'] : ['chunk', packageUrl])));
  }

  private read<T>(request: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    return this.store('readonly', (s) => promisifyRequest(request(s)));
  }

  private async write(operations: (store: IDBObjectStore) => unknown): Promise<void> {
    try {
      await this.store('readwrite', (s) => {
        operations(s);
        return promisifyRequest(s.transaction);
      });
    } catch (error) {
      if (isQuotaExceeded(error)) {
        throw new StorageQuotaError('The browser refused to store more model data: its storage quota for this site is used up. Free space on the device or delete stored models.');
      }
      throw error;
    }
  }
}

function isQuotaExceeded(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return name === 'QuotaExceededError' || (name === 'AbortError' && /quota/i.test(String((error as Error).message)));
}
