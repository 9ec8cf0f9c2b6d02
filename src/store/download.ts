/**
 * Resumable, streamed, self-healing download of one file into the {@link ChunkedFileStore}.
 *
 * The response body is read piece by piece (a BYOB reader into one recycled read buffer
 * where the browser offers it, so reading allocates nothing; the default reader
 * elsewhere) and copied into one chunk-sized buffer; each full chunk is hashed, turned
 * into a Blob and stored with its file record in one transaction, and the buffer is
 * reused — the JS heap holds about one chunk plus the read buffer, whatever the file size.
 *
 * Verification. When the manifest gives a sha256 per chunk (`chunkSha256`), every chunk
 * is checked (WebCrypto) before it is stored: a chunk that fails is fetched again by
 * itself with a Range request while the main response waits, so a damaged chunk costs one
 * chunk, and no unverified byte is ever stored as part of a full chunk. Nothing is hashed
 * again when a download resumes or a session starts. For manifests without chunk hashes
 * (older packages) the whole-file sha256 is computed as bytes arrive, after re-reading the
 * stored prefix when resuming, and checked at the end.
 *
 * Faults (see download-retry.ts): each request has an idle timeout; a dropped or stalled
 * connection, HTTP 408/429/5xx and a bad chunk are retried with backoff and jitter,
 * resuming at the exact byte (`Range: bytes=N-`), within the call's retry budget. A server
 * that ignores Range (200) is read from byte 0, skipping the bytes stored already; one that
 * answers a Range request from an earlier byte (206 from 0) is asked once more at once (the
 * answer dropped after its headers), and read through like a 200 if it does it again; one
 * that answers from a later byte is asked for the whole file once. When a request fails or the caller aborts, the bytes
 * received since the last full chunk are stored as a partial chunk, so the next request
 * starts exactly where this one stopped (after a hard reload, at the last full chunk).
 */
import { AbortedError, DownloadError, IntegrityError, throwIfAborted } from '../errors.ts';
import { parseRetryAfter } from '../providers/remote-call.ts';
import { chunkLength, type ChunkedFileStore, type StoredFileRecord } from './chunked-file-store.ts';
import { DownloadFault, FileRetries, isRetryableStatus, resolveRetryPolicy, RetryBudget, formatDelay, type DownloadRetryPolicy, type RetryNotice } from './download-retry.ts';
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
  /** Retry settings (default: the defaults). */
  retry?: DownloadRetryPolicy;
  /** The retry budget shared by the files of one `ensureFiles` call (default: one of its own). */
  budget?: RetryBudget;
  /** Called before each retry with what failed and how long the wait is. Must not throw. */
  onRetry?: (notice: RetryNotice) => void;
}

/**
 * Downloads whatever of `record`'s file is not stored yet, verifies it (per chunk against
 * the manifest's `chunkSha256`, else the whole-file sha256), retrying faults within the
 * budget, and marks the record complete.
 * @param store where chunks and records live
 * @param record the file's current record (possibly partly stored)
 * @returns the completed record
 * @throws DownloadError on an HTTP error that is not retried (404, …), or on any fault when retries are off (what was received is kept)
 * @throws DownloadRetriesExhaustedError when the retries ran out (what was received is kept)
 * @throws AbortedError when `signal` aborts (what was received is kept)
 * @throws IntegrityError when the bytes do not match the manifest's size or whole-file sha256 (the stored data is dropped), or one chunk keeps failing its sha256 (the chunks before it are kept)
 * @throws StorageQuotaError when the browser refuses to store a chunk
 */
export async function downloadFileToStore(store: ChunkedFileStore, record: StoredFileRecord, options: FileDownloadOptions = {}): Promise<StoredFileRecord> {
  const { signal, onBytes } = options;
  const policy = options.retry ?? resolveRetryPolicy();
  const budget = options.budget ?? new RetryBudget(policy);
  const buffer = new Uint8Array(Math.max(1, Math.min(record.chunkSize, record.size)));
  const checked = record.expectedChunkSha256 !== undefined;

  // 1. What is stored already: with chunk hashes, only a partial last chunk is read back
  //    (into the buffer, to be completed); without, the whole prefix is re-hashed.
  const hasher = checked ? undefined : await createIncrementalSha256();
  const resumed = hasher ? await rehashStoredPrefix(store, record, hasher, buffer, signal) : await loadPartialChunk(store, record, buffer, signal);
  const retries = new FileRetries(budget, record.url, signal, options.onRetry);
  const download = new Download(store, resumed, buffer, hasher, policy, retries, options);
  onBytes?.(download.writer.received);

  // 2. Request and stream the rest, retrying faults (nothing to request when every byte is
  //    stored already, e.g. after a reload between the last chunk and the final check).
  while (download.writer.received < resumed.size) {
    throwIfAborted(signal);
    try {
      await download.streamRest();
    } catch (error) {
      await download.writer.keepPartialChunk();
      if (signal?.aborted) throw new AbortedError();
      if (!(error instanceof DownloadFault)) throw error;
      await retries.next(error, download.writer.received);
    }
  }

  // 3. Verify the whole file (its chunks were verified one by one when the manifest has their hashes).
  const current = download.writer.record;
  if (hasher) {
    const actual = hasher.digestHex();
    if (actual !== current.sha256) {
      await store.truncateFile(current, 0);
      throw new IntegrityError(`${current.path}: sha256 ${actual} does not match the manifest's ${current.sha256}; the stored data was dropped`, current.path);
    }
  }
  const complete: StoredFileRecord = { ...current, complete: true, updatedAt: Date.now() };
  await store.putFileRecord(complete);
  return complete;
}

/** One file's requests: the main stream from the first missing byte, and chunk repairs. */
class Download {
  readonly writer: ChunkWriter;
  private readonly fetchImpl: typeof fetch;
  /** Set after a Range answer from a later byte: the next request asks for the whole file. */
  private wholeFile = false;
  /** Whether a Range answer from an earlier byte was already met (and retried) in this call. */
  private rangeMisanswered = false;

  constructor(
    store: ChunkedFileStore,
    record: StoredFileRecord,
    buffer: Uint8Array<ArrayBuffer>,
    private readonly hasher: IncrementalSha256 | undefined,
    private readonly policy: DownloadRetryPolicy,
    private readonly retries: FileRetries,
    private readonly options: FileDownloadOptions,
  ) {
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.writer = new ChunkWriter(store, record, buffer, (index) => this.repairChunk(index));
  }

  /**
   * One request for the rest of the file, streamed into the writer until the file is
   * complete.
   * @throws DownloadFault for a retryable failure; typed errors otherwise
   */
  async streamRest(): Promise<void> {
    const { writer } = this;
    const { url, size, path } = writer.record;
    const offset = this.wholeFile ? 0 : writer.received;
    this.wholeFile = false;
    const request = await this.request(offset, undefined);
    // Bytes before `writer.received` in this body are stored already: skip them.
    let skip = writer.received - request.start;
    try {
      for (;;) {
        const bytes0 = await request.read();
        if (bytes0 === null) break;
        let bytes = bytes0;
        if (skip > 0) {
          const dropped = Math.min(skip, bytes.length);
          skip -= dropped;
          bytes = bytes.subarray(dropped);
        }
        if (bytes.length === 0) continue;
        if (writer.received + bytes.length > size) {
          await request.cancel();
          await writer.drop();
          throw new IntegrityError(`${path}: the server sent more than the ${size} bytes the manifest gives; the stored data was dropped`, path);
        }
        this.hasher?.update(bytes);
        await writer.append(bytes);
        this.options.onBytes?.(writer.received);
        if (this.options.signal?.aborted) {
          await request.cancel();
          throw new AbortedError();
        }
      }
    } finally {
      request.close();
    }
    if (writer.received < size) {
      const error = new DownloadError(`${url}: the connection closed after ${writer.received} of ${size} bytes; call again to resume`, url, request.status);
      throw new DownloadFault('dropped', error, request.status);
    }
  }

  /**
   * Fetches chunk `index` again by itself (`Range: bytes=a-b`) into the writer's buffer
   * after it failed its sha256, retrying within the budget; the main response waits.
   * @throws IntegrityError when the chunk fails `maxChunkRepairs` times more
   */
  private async repairChunk(index: number): Promise<void> {
    const { writer } = this;
    const { record } = writer;
    const start = index * record.chunkSize;
    const length = chunkLength(record.size, record.chunkSize, index);
    let failedChecks = 1;
    let fault = chunkFault(record, index, failedChecks);
    for (;;) {
      if (failedChecks > WEIGHT_STORE_DEFAULTS.maxChunkRepairs) throw fault.error;
      await this.retries.next(fault, start);
      try {
        const bytes = await this.fetchExactly(start, length);
        if ((await sha256Hex(bytes)) === record.expectedChunkSha256![index]) {
          writer.replaceBuffered(bytes);
          return;
        }
        failedChecks += 1;
        fault = chunkFault(record, index, failedChecks);
      } catch (error) {
        if (this.options.signal?.aborted) throw new AbortedError();
        if (!(error instanceof DownloadFault)) throw error;
        fault = error;
      }
    }
  }

  /** Bytes `start … start + length − 1` of the file, in a new array. */
  private async fetchExactly(start: number, length: number): Promise<Uint8Array<ArrayBuffer>> {
    const request = await this.request(start, start + length - 1);
    const out = new Uint8Array(length);
    let filled = 0;
    let skip = start - request.start;
    try {
      while (filled < length) {
        let bytes = await request.read();
        if (bytes === null) break;
        if (skip > 0) {
          const dropped = Math.min(skip, bytes.length);
          skip -= dropped;
          bytes = bytes.subarray(dropped);
        }
        const piece = bytes.subarray(0, length - filled);
        out.set(piece, filled);
        filled += piece.length;
      }
      if (filled === length) await request.cancel(); // a server that ignored the range end
    } finally {
      request.close();
    }
    if (filled < length) {
      const { url } = this.writer.record;
      throw new DownloadFault('dropped', new DownloadError(`${url}: the connection closed after ${filled} of ${length} bytes of a chunk; call again to resume`, url, request.status), request.status);
    }
    return out;
  }

  /**
   * Sends one request for bytes from `offset` (to `end`, inclusive, when given) with the
   * idle timeout armed, and checks its status.
   * @returns a reader of the body and the file offset its first byte has
   * @throws DownloadFault (408/429/5xx, network failure, stall, a Range answer from a later byte); DownloadError for other statuses
   */
  private async request(offset: number, end: number | undefined): Promise<BodyRequest> {
    const { url } = this.writer.record;
    const { signal } = this.options;
    throwIfAborted(signal);
    const watch = new IdleWatch(this.policy.idleTimeoutMs, signal);
    const headers: Record<string, string> = offset > 0 || end !== undefined ? { Range: `bytes=${offset}-${end ?? ''}` } : {};
    let response: Response;
    try {
      // `no-store`: the bytes go to IndexedDB; a second copy in the HTTP cache would double the disk used.
      response = await watch.during(this.fetchImpl(url, { headers, signal: watch.signal, cache: 'no-store' }));
    } catch (error) {
      watch.stop();
      throw this.failure(error, watch, false);
    }
    const { status } = response;
    let start = 0;
    if (status === 206) {
      const rangeStart = /^bytes (\d+)-/.exec(response.headers.get('Content-Range') ?? '')?.[1];
      start = rangeStart === undefined ? offset : Number(rangeStart);
      if (start > offset) {
        // A gap: bytes from `start` are useless without those before. Ask for the whole file once.
        await response.body?.cancel().catch(() => undefined);
        watch.stop();
        const error = new DownloadError(`${url}: asked for bytes from ${offset}, the server sent bytes from ${start}`, url, 206);
        if (end !== undefined) throw new DownloadFault('range', error, 206);
        this.wholeFile = true;
        throw new DownloadFault('range', error, 206, undefined, true);
      }
      if (start < offset && !this.rangeMisanswered) {
        // From an earlier byte (e.g. 206 from byte 0): the prefix would come again. A glitch
        // (a cache, a proxy) is common, so drop this answer at once and ask again; a server
        // that answers so again is read from where it starts (the stored bytes skipped).
        this.rangeMisanswered = true;
        await response.body?.cancel().catch(() => undefined);
        watch.stop();
        throw new DownloadFault('range', new DownloadError(`${url}: asked for bytes from ${offset}, the server sent bytes from ${start}`, url, 206), 206, undefined, true);
      }
    } else if (status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      watch.stop();
      throw await this.statusFailure(response, offset);
    }
    if (!response.body) {
      watch.stop();
      throw new DownloadError(`Could not download ${url}: the response has no body`, url, status);
    }
    const body = new BodyReader(response.body);
    let received = false;
    return {
      start,
      status,
      read: async () => {
        try {
          const bytes = await watch.during(body.read());
          if (bytes && bytes.length > 0) received = true;
          return bytes;
        } catch (error) {
          throw this.failure(error, watch, received);
        }
      },
      cancel: () => body.cancel(),
      close: () => watch.stop(),
    };
  }

  /** A non-2xx answer: a retryable DownloadFault (408/429/5xx) or a DownloadError. */
  private async statusFailure(response: Response, offset: number): Promise<Error> {
    const { url } = this.writer.record;
    const { status } = response;
    const error = new DownloadError(`Could not download ${url}: HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}`, url, status);
    if (isRetryableStatus(status)) return new DownloadFault('http', error, status, parseRetryAfter(response.headers.get('Retry-After')));
    if (status === 416 && offset > 0) {
      // The server's file is shorter than what is stored: it is not the file stored so far.
      this.writer.record = await this.writer.store.truncateFile(this.writer.record, 0);
      return new DownloadError(`${url}: the server has no bytes from ${offset} (HTTP 416); the stored part was dropped, call again to download it anew`, url, 416);
    }
    return error;
  }

  /** A rejected fetch or read → the caller's abort, a stall, or a network fault. */
  private failure(error: unknown, watch: IdleWatch, receivedBody: boolean): Error {
    if (error instanceof DownloadFault || error instanceof IntegrityError) return error;
    if (this.options.signal?.aborted) return new AbortedError();
    const { url } = this.writer.record;
    if (watch.stalled) {
      const typed = new DownloadError(`${url}: no bytes arrived for ${formatDelay(this.policy.idleTimeoutMs)} (the idle timeout); call again to resume`, url);
      return new DownloadFault('stalled', typed);
    }
    const reason = error instanceof Error ? error.message : String(error);
    const typed = new DownloadError(`Could not download ${url}: ${reason}; call again to resume`, url);
    return new DownloadFault(receivedBody ? 'dropped' : 'network', typed);
  }
}

/** One response being read. */
interface BodyRequest {
  /** The file offset of the body's first byte. */
  start: number;
  status: number;
  /** The next bytes (valid until the next read), or null at the end. */
  read(): Promise<Uint8Array | null>;
  /** Stops the body; never throws. */
  cancel(): Promise<void>;
  /** Disarms the idle timer. */
  close(): void;
}

/** The IntegrityError of a chunk that failed its manifest sha256, as a retryable fault. */
function chunkFault(record: StoredFileRecord, index: number, failures: number): DownloadFault {
  const start = index * record.chunkSize;
  const end = start + chunkLength(record.size, record.chunkSize, index) - 1;
  const error = new IntegrityError(
    `${record.path}: chunk ${index} (bytes ${start}–${end}) failed its sha256 check ${failures} time${failures === 1 ? '' : 's'}: ` +
      `the server's file does not match the manifest. The ${index} chunks before it are stored and kept.`,
    record.path,
  );
  return new DownloadFault('chunk', error, undefined, undefined, true);
}

/**
 * The idle timeout of one request: its own AbortController (linked to the caller's
 * signal), aborted when a fetch or read awaited through `during()` takes longer than the
 * timeout. Time between reads (e.g. while a chunk is repaired) does not count.
 */
class IdleWatch {
  private readonly controller = new AbortController();
  readonly signal = this.controller.signal;
  stalled = false;
  private readonly unlink: () => void;

  constructor(
    private readonly timeoutMs: number,
    caller: AbortSignal | undefined,
  ) {
    const onAbort = () => this.controller.abort();
    caller?.addEventListener('abort', onAbort, { once: true });
    this.unlink = () => caller?.removeEventListener('abort', onAbort);
    if (caller?.aborted) this.controller.abort();
  }

  /** Awaits `work`, aborting the request if it takes longer than the idle timeout. */
  async during<T>(work: Promise<T>): Promise<T> {
    const timer = setTimeout(() => {
      this.stalled = true;
      this.controller.abort();
    }, this.timeoutMs);
    try {
      return await work;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Unlinks the caller's signal. */
  stop(): void {
    this.unlink();
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
 * stores each full chunk (with its sha256 and the updated record) in one transaction. With
 * the manifest's chunk hashes, a full chunk is stored only once its sha256 matches (a
 * failing one is repaired first).
 */
class ChunkWriter {
  /** Index of the chunk being filled. */
  private chunkIndex: number;
  /** Bytes of that chunk in `buffer`. */
  private filled: number;
  /** Bytes of that chunk already stored (a partial chunk kept by an earlier attempt). */
  private filledStored: number;

  constructor(
    readonly store: ChunkedFileStore,
    /** The record as last written. */
    public record: StoredFileRecord,
    private readonly buffer: Uint8Array<ArrayBuffer>,
    /** Puts the right bytes of chunk `index` into the buffer after it failed its check. */
    private readonly repair: (index: number) => Promise<void>,
  ) {
    this.chunkIndex = Math.floor(record.bytesStored / record.chunkSize);
    this.filled = record.bytesStored - this.chunkIndex * record.chunkSize;
    this.filledStored = this.filled;
  }

  /** Bytes of the file received so far (stored or in the buffer). */
  get received(): number {
    return Math.min(this.record.size, this.chunkIndex * this.record.chunkSize + this.filled);
  }

  /** Adds bytes; verifies (where the manifest has chunk hashes) and stores every chunk that becomes full. */
  async append(bytes: Uint8Array): Promise<void> {
    const { size, chunkSize } = this.record;
    while (bytes.length > 0) {
      const target = chunkLength(size, chunkSize, this.chunkIndex);
      const piece = bytes.subarray(0, target - this.filled);
      this.buffer.set(piece, this.filled);
      this.filled += piece.length;
      bytes = bytes.subarray(piece.length);
      if (this.filled === target) {
        let hash = await sha256Hex(this.buffer.subarray(0, target));
        const expected = this.record.expectedChunkSha256?.[this.chunkIndex];
        if (expected !== undefined && hash !== expected) {
          try {
            await this.repair(this.chunkIndex);
          } catch (error) {
            // Nothing of a chunk known to be bad stays (not even a partial kept by an earlier
            // attempt); the chunks before it stay.
            await this.truncateToChunk().catch(() => undefined);
            throw error;
          }
          hash = expected;
        }
        await this.storeChunk(hash);
        this.chunkIndex += 1;
        this.filled = 0;
        this.filledStored = 0;
      }
    }
  }

  /** Replaces the buffered (full) chunk with repaired bytes of the same length. */
  replaceBuffered(bytes: Uint8Array): void {
    this.buffer.set(bytes, 0);
  }

  /** Stores the bytes received since the last stored chunk; never throws (it runs while another error is on its way). */
  async keepPartialChunk(): Promise<void> {
    if (this.filled > this.filledStored && this.filled < chunkLength(this.record.size, this.record.chunkSize, this.chunkIndex)) {
      await this.storeChunk().catch(() => undefined);
    }
  }

  /** Drops what is stored of the chunk being filled (the chunks before it stay). */
  private async truncateToChunk(): Promise<void> {
    this.filled = 0;
    this.filledStored = 0;
    this.record = await this.store.truncateFile(this.record, this.chunkIndex);
  }

  /** Removes everything stored for the file. */
  async drop(): Promise<void> {
    this.record = await this.store.truncateFile(this.record, 0);
    this.chunkIndex = 0;
    this.filled = 0;
    this.filledStored = 0;
  }

  private async storeChunk(knownHash?: string): Promise<void> {
    const bytes = this.buffer.subarray(0, this.filled);
    const chunkSha256 = [...this.record.chunkSha256.slice(0, this.chunkIndex), knownHash ?? (await sha256Hex(bytes))];
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
 * last chunk into `buffer` so the download can complete it. (Files without manifest chunk hashes.)
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

/**
 * Loads a partial last chunk into `buffer` (checked against the sha256 recorded when it
 * was stored; dropped when it fails), for files whose full chunks were verified against
 * the manifest when they were written: nothing else is read back.
 * @returns the record, truncated when the partial chunk was bad
 */
async function loadPartialChunk(store: ChunkedFileStore, record: StoredFileRecord, buffer: Uint8Array<ArrayBuffer>, signal: AbortSignal | undefined): Promise<StoredFileRecord> {
  throwIfAborted(signal);
  const index = Math.floor(record.bytesStored / record.chunkSize);
  const partialLength = record.bytesStored - index * record.chunkSize;
  if (partialLength === 0 || record.bytesStored >= record.size) return record;
  const blob = await store.getChunk(record.packageUrl, record.path, index);
  const bytes = blob && blob.size === partialLength ? new Uint8Array(await blob.arrayBuffer()) : undefined;
  if (!bytes || (await sha256Hex(bytes)) !== record.chunkSha256[index]) return store.truncateFile(record, index);
  buffer.set(bytes);
  return record;
}
