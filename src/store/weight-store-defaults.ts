/**
 * Defaults of the browser weight store (the engine's, and any page's that uses the store
 * on its own), declared in one place.
 */
export const WEIGHT_STORE_DEFAULTS = {
  /**
   * IndexedDB database of the weight store. A database of its own: idb-keyval's
   * `createStore` creates its object store only when the database is first created, so
   * two stores must never share a database name.
   */
  dbName: 'flux-webgpu-weights',
  /** Object store inside `dbName` holding package records, file records and chunks. */
  storeName: 'weights',
  /**
   * Bytes per stored chunk (8 MiB). The JS heap used by a download stays near this size;
   * it is also the unit of resumption after a hard reload and of re-verification.
   */
  chunkSizeBytes: 8 * 1024 * 1024,
  /**
   * Bytes of the buffer a response body is read into before being copied into the chunk
   * (1 MiB; recycled from read to read where the browser offers BYOB readers).
   */
  readBufferBytes: 1024 * 1024,
  /** Least time between two progress events of one `ensureFiles` call, in milliseconds. */
  progressIntervalMs: 100,
  /** Fixed headroom added to the bytes still to download before comparing with the free quota, in bytes (64 MiB). */
  quotaHeadroomBytes: 64 * 1024 * 1024,
  /** Proportional headroom added to the bytes still to download, as a fraction (0.02 = 2 %). */
  quotaHeadroomFraction: 0.02,
  /** No body bytes for this long → the request is aborted and retried, in milliseconds. */
  idleTimeoutMs: 30_000,
  /** Retries in a row of one file without a new byte stored in between (0 turns retries off). */
  maxRetries: 5,
  /** Retries of one `ensureFiles` call (one `load()`), all files together. */
  maxTotalRetries: 30,
  /** First wait before a retry, in milliseconds; doubled per retry in a row, ±25 % jitter. */
  retryBaseMs: 1_000,
  /** Longest wait before a retry (also caps a server's Retry-After), in milliseconds. */
  retryMaxMs: 30_000,
  /** Times one chunk that failed its manifest sha256 is fetched again before IntegrityError. */
  maxChunkRepairs: 2,
} as const;
