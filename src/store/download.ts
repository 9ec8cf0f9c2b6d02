/**
 * Resumable, streamed download of one file into the {@link ChunkedFileStore}.
 *
 * The response body is read piece by piece (a BYOB reader into one recycled read buffer
 * where the browser offers it, so reading allocates nothing; the default reader
 * elsewhere) and copied into one chunk-sized buffer; each full chunk is hashed, turned
 * into a Blob and stored with its file record in one transaction, and the buffer is
 * reused — the JS heap holds about one chunk plus the read buffer, whatever the file
 * size. The whole-file sha256 is computed incrementally as bytes arrive.
 *
 * Resumption: the stored prefix is re-read chunk by chunk (each chunk checked against its
 * own sha256 and fed to the whole-file hash; a bad chunk cuts the prefix there), then the
 * rest is requested with `Range: bytes=N-`. A server that answers 200 instead of 206 is
 * handled by skipping the first N bytes of the body. When the connection drops or the
 * caller aborts, the bytes received since the last full chunk are stored as a partial
 * chunk, so the next attempt starts exactly where this one stopped (after a hard reload
 * it starts at the last full chunk).
 */
import { AbortedError, DownloadError, IntegrityError } from '../errors.ts';
import { chunkLength, type ChunkedFileStore, type StoredFileRecord } from './chunked-file-store.ts';
import { createIncrementalSha256, sha256Hex, type IncrementalSha256 } from './sha256.ts';
import { WEIGHT_STORE_DEFAULTS } from './weight-store-defaults.ts';

/** Options of {@link downloadFileToStore}. */
export interface FileDownloadOptions {
  /** Cancels the download; stored bytes are kept. */
  signal?: AbortSignal;
  /** `fetch` to use (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /**
   * Called with the bytes of the file held so far (stored or buffered), from the
   * resumed offset up to the file size, after every piece of the body. Must not throw.
   */
  onBytes?: (loadedBytes: number) => void;
}

/** Throws AbortedError when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError();
}

/**
 * Downloads whatever of `record`'s file is not stored yet, verifies the whole-file sha256
 * and marks the record complete.
 * @param store where chunks and records live
 * @param record the file's current record (possibly partly stored)
 * @returns the completed record
 * @throws DownloadError on a network failure or HTTP error status (what was received is kept)
 * @throws AbortedError when `signal` aborts (what was received is kept)
 * @throws IntegrityError when the bytes do not match the manifest's size or sha256 (the stored data is dropped)
 * @throws StorageQuotaError when the browser refuses to store a chunk
 */
export async function downloadFileToStore(store: ChunkedFileStore, record: StoredFileRecord, options: FileDownloadOptions = {}): Promise<StoredFileRecord> {
  const { signal, onBytes } = options;
  const hasher = await createIncrementalSha256();
  const buffer = new Uint8Array(Math.max(1, Math.min(record.chunkSize, record.size)));

  // 1. Re-read and re-hash what is already stored.
  const resumed = await rehashStoredPrefix(store, record, hasher, buffer, signal);
  const writer = new ChunkWriter(store, resumed, buffer);
  onBytes?.(writer.received);

  // 2. Request and stream the rest (nothing to request when every byte is stored already,
  //    e.g. after a reload between the last chunk and the final check).
  if (writer.received < resumed.size) {
    const { response, skip } = await requestRest(store, resumed, writer.received, options);
    await streamBody(response, skip, writer, hasher, options);
  }

  // 3. Verify the whole file.
  const current = writer.record;
  const actual = hasher.digestHex();
  if (actual !== current.sha256) {
    await store.truncateFile(current, 0);
    throw new IntegrityError(`${current.path}: sha256 ${actual} does not match the manifest's ${current.sha256}; the stored data was dropped`, current.path);
  }
  const complete: StoredFileRecord = { ...current, complete: true, updatedAt: Date.now() };
  await store.putFileRecord(complete);
  return complete;
}

/**
 * Fetches bytes `offset…` of the file.
 * @returns the response and how many leading body bytes to drop (when the server ignored Range)
 */
async function requestRest(store: ChunkedFileStore, record: StoredFileRecord, offset: number, options: FileDownloadOptions): Promise<{ response: Response; skip: number }> {
  const { signal } = options;
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  throwIfAborted(signal);
  let response: Response;
  try {
    response = await fetchImpl(record.url, {
      headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
      signal,
      // The bytes go to IndexedDB; a second copy in the HTTP cache would double the disk used.
      cache: 'no-store',
    });
  } catch (error) {
    throw failure(error, signal, record.url);
  }
  if (response.status === 200) return { response, skip: offset }; // Range ignored: drop what is stored already
  if (response.status === 206) {
    const rangeStart = /^bytes (\d+)-/.exec(response.headers.get('Content-Range') ?? '')?.[1];
    if (rangeStart === undefined || Number(rangeStart) === offset) return { response, skip: 0 };
    await response.body?.cancel().catch(() => undefined);
    throw new DownloadError(`${record.url}: asked for bytes from ${offset}, the server sent bytes from ${rangeStart}`, record.url, 206);
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.status === 416 && offset > 0) {
    // The server's file is shorter than what is stored: it is not the file stored so far.
    await store.truncateFile(record, 0);
    throw new DownloadError(`${record.url}: the server has no bytes from ${offset} (HTTP 416); the stored part was dropped, call again to download it anew`, record.url, 416);
  }
  throw new DownloadError(`Could not download ${record.url}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`, record.url, response.status);
}

/** Reads the body piece by piece into `writer` and `hasher` until the file is complete. */
async function streamBody(response: Response, skip: number, writer: ChunkWriter, hasher: IncrementalSha256, options: FileDownloadOptions): Promise<void> {
  const { signal, onBytes } = options;
  const { url, size, path } = writer.record;
  if (!response.body) throw new DownloadError(`Could not download ${url}: the response has no body`, url, response.status);
  const body = new BodyReader(response.body);
  for (;;) {
    let bytes: Uint8Array | null;
    try {
      bytes = await body.read();
    } catch (error) {
      await writer.keepPartialChunk();
      throw failure(error, signal, url);
    }
    if (bytes === null) break;
    if (skip > 0) {
      const dropped = Math.min(skip, bytes.length);
      skip -= dropped;
      bytes = bytes.subarray(dropped);
    }
    if (bytes.length === 0) continue;
    if (writer.received + bytes.length > size) {
      await body.cancel();
      await writer.drop();
      throw new IntegrityError(`${path}: the server sent more than the ${size} bytes the manifest gives; the stored data was dropped`, path);
    }
    hasher.update(bytes);
    try {
      await writer.append(bytes);
    } catch (error) {
      await body.cancel();
      throw error;
    }
    onBytes?.(writer.received);
    if (signal?.aborted) {
      await body.cancel();
      await writer.keepPartialChunk();
      throw new AbortedError();
    }
  }
  if (writer.received < size) {
    await writer.keepPartialChunk();
    throw new DownloadError(`${url}: the connection closed after ${writer.received} of ${size} bytes; call again to resume`, url, response.status);
  }
}

/**
 * Reads a response body without allocating per read where the browser allows it: a BYOB
 * reader filling one recycled read buffer (each read transfers the buffer and hands it
 * back), else the default reader. The bytes returned are valid until the next `read()`.
 *
 * The read buffer is separate from the chunk buffer on purpose: a BYOB read that fails
 * takes its buffer with it, and the chunk buffer must survive to be stored as a partial chunk.
 */
class BodyReader {
  private readonly byob: ReadableStreamBYOBReader | undefined;
  private readonly plain: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private readBuffer = new ArrayBuffer(0);

  constructor(body: ReadableStream<Uint8Array>) {
    try {
      this.byob = body.getReader({ mode: 'byob' });
    } catch {
      this.plain = body.getReader(); // not a byte stream in this browser
    }
  }

  /** The next bytes of the body, or null at its end. */
  async read(): Promise<Uint8Array | null> {
    if (this.plain) {
      const result = await this.plain.read();
      return result.done ? null : result.value;
    }
    if (this.readBuffer.byteLength === 0) this.readBuffer = new ArrayBuffer(WEIGHT_STORE_DEFAULTS.readBufferBytes); // first read, or lost to a failed one
    const view = new Uint8Array(this.readBuffer);
    this.readBuffer = new ArrayBuffer(0); // transferred by read()
    const result = await this.byob!.read(view);
    if (result.value) this.readBuffer = result.value.buffer;
    return result.done ? null : result.value;
  }

  /** Stops the download; never throws. */
  async cancel(): Promise<void> {
    await (this.byob ?? this.plain)!.cancel().catch(() => undefined);
  }
}

/**
 * Chunks from this offset on are stored from a fresh copy of their bytes. A stored chunk's
 * Blob keeps its bytes in the browser process until the JS object is garbage-collected, and
 * with one reused buffer the download allocates nothing that would start a collection:
 * that process grew with the download (measured: +519 MiB for three 200 MiB files). V8
 * counts the copies as external memory and collects after about 64 MiB of them, which
 * frees the Blobs too (+71 MiB for the same files). A file smaller than that cannot hold
 * more than the copies would cost, so its chunks are not copied.
 */
const GC_NUDGE_AFTER_BYTES = 64 * 2 ** 20;

/**
 * Cuts a stream of bytes into the file's chunks: fills one reusable chunk-sized buffer and
 * stores each full chunk (with its sha256 and the updated record) in one transaction.
 */
class ChunkWriter {
  /** Index of the chunk being filled. */
  private chunkIndex: number;
  /** Bytes of that chunk in `buffer`. */
  private filled: number;
  /** Bytes of that chunk already stored (a partial chunk kept by an earlier attempt). */
  private filledStored: number;

  constructor(
    private readonly store: ChunkedFileStore,
    /** The record as last written. */
    public record: StoredFileRecord,
    private readonly buffer: Uint8Array<ArrayBuffer>,
  ) {
    this.chunkIndex = Math.floor(record.bytesStored / record.chunkSize);
    this.filled = record.bytesStored - this.chunkIndex * record.chunkSize;
    this.filledStored = this.filled;
  }

  /** Bytes of the file received so far (stored or in the buffer). */
  get received(): number {
    return Math.min(this.record.size, this.chunkIndex * this.record.chunkSize + this.filled);
  }

  /** Adds bytes; stores every chunk that becomes full. */
  async append(bytes: Uint8Array): Promise<void> {
    const { size, chunkSize } = this.record;
    while (bytes.length > 0) {
      const target = chunkLength(size, chunkSize, this.chunkIndex);
      const piece = bytes.subarray(0, target - this.filled);
      this.buffer.set(piece, this.filled);
      this.filled += piece.length;
      bytes = bytes.subarray(piece.length);
      if (this.filled === target) {
        await this.storeChunk();
        this.chunkIndex += 1;
        this.filled = 0;
        this.filledStored = 0;
      }
    }
  }

  /** Stores the bytes received since the last stored chunk; never throws (it runs while another error is on its way). */
  async keepPartialChunk(): Promise<void> {
    if (this.filled > this.filledStored) await this.storeChunk().catch(() => undefined);
  }

  /** Removes everything stored for the file. */
  async drop(): Promise<void> {
    this.record = await this.store.truncateFile(this.record, 0);
    this.chunkIndex = 0;
    this.filled = 0;
    this.filledStored = 0;
  }

  private async storeChunk(): Promise<void> {
    const bytes = this.buffer.subarray(0, this.filled);
    const chunkSha256 = [...this.record.chunkSha256.slice(0, this.chunkIndex), await sha256Hex(bytes)];
    const next: StoredFileRecord = {
      ...this.record,
      chunkSha256,
      bytesStored: this.chunkIndex * this.record.chunkSize + this.filled,
      updatedAt: Date.now(),
    };
    await this.store.putChunk(next, this.chunkIndex, new Blob([this.chunkIndex * this.record.chunkSize < GC_NUDGE_AFTER_BYTES ? bytes : bytes.slice()]));
    this.record = next;
    this.filledStored = this.filled;
  }
}

/**
 * Feeds the stored prefix of a file to `hasher`, checking each chunk against its own
 * sha256; cuts the file back at the first chunk that is missing or wrong. Loads a partial
 * last chunk into `buffer` so the download can complete it.
 * @returns the record, truncated where a chunk was bad
 */
async function rehashStoredPrefix(
  store: ChunkedFileStore,
  record: StoredFileRecord,
  hasher: IncrementalSha256,
  buffer: Uint8Array<ArrayBuffer>,
  signal: AbortSignal | undefined,
): Promise<StoredFileRecord> {
  const storedChunks = Math.ceil(record.bytesStored / record.chunkSize);
  for (let index = 0; index < storedChunks; index++) {
    throwIfAborted(signal);
    const expectedLength = Math.min(record.chunkSize, record.bytesStored - index * record.chunkSize);
    const blob = await store.getChunk(record.packageUrl, record.path, index);
    const bytes = blob && blob.size === expectedLength ? new Uint8Array(await blob.arrayBuffer()) : undefined;
    if (!bytes || (await sha256Hex(bytes)) !== record.chunkSha256[index]) return store.truncateFile(record, index);
    hasher.update(bytes);
    if (expectedLength < record.chunkSize) buffer.set(bytes);
  }
  return record;
}

/** Maps a fetch/read failure to AbortedError (when `signal` aborted) or DownloadError. */
function failure(error: unknown, signal: AbortSignal | undefined, url: string): Error {
  if (signal?.aborted || (error as { name?: string } | null)?.name === 'AbortError') return new AbortedError();
  const reason = error instanceof Error ? error.message : String(error);
  return new DownloadError(`Could not download ${url}: ${reason}; call again to resume`, url);
}
