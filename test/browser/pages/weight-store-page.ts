/**
 * Test page of the browser weight store: exposes `window.weightStoreTest`, whose functions
 * take and return plain JSON so that Playwright can call them with `page.evaluate`.
 * Errors come back as `{ name, message, ... }` instead of being thrown.
 */
import { createStore, set } from 'idb-keyval';
import type { PackageFile } from '../../../src/package/manifest.ts';
import { chunkKey, ChunkedFileStore } from '../../../src/store/chunked-file-store.ts';
import { WEIGHT_STORE_DEFAULTS } from '../../../src/store/weight-store-defaults.ts';
import type { DownloadRetryOptions } from '../../../src/store/download-retry.ts';
import { WeightStore, type DownloadProgressEvent } from '../../../src/store/weight-store.ts';

/** How the page disturbs a download (through the `fetch` option). */
interface Disturbance {
  /** Abort the call's AbortSignal once this many body bytes arrived. */
  abortAfterBytes?: number;
  /** Stop delivering body bytes after this many (the read never settles), e.g. to reload mid-download. */
  stallAfterBytes?: number;
  /** Drop the Range header, as a server that ignores ranges would (it then answers 200). */
  stripRange?: boolean;
}

interface SerializedError {
  name: string;
  message: string;
  file?: string;
  status?: number;
  attempts?: number;
  fault?: string;
  neededBytes?: number;
  availableBytes?: number;
}

const store = new WeightStore({ progressIntervalMs: 0 });
const raw = new ChunkedFileStore(WEIGHT_STORE_DEFAULTS.dbName, WEIGHT_STORE_DEFAULTS.storeName);
const persistCalls: number[] = [];

function serialize(error: unknown): SerializedError {
  const e = error as Error & Record<string, unknown>;
  return {
    name: e?.name ?? 'Error',
    message: e?.message ?? String(error),
    file: e?.file as string | undefined,
    status: e?.status as number | undefined,
    attempts: e?.attempts as number | undefined,
    fault: e?.fault as string | undefined,
    neededBytes: e?.neededBytes as number | undefined,
    availableBytes: e?.availableBytes as number | undefined,
  };
}

function disturbingFetch(disturbance: Disturbance, controller: AbortController): typeof fetch {
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    if (disturbance.stripRange) headers.delete('Range');
    const response = await fetch(input, { ...init, headers });
    if (!response.body || (disturbance.abortAfterBytes === undefined && disturbance.stallAfterBytes === undefined)) return response;
    let seen = 0;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, sink) {
        if (disturbance.stallAfterBytes !== undefined && seen + chunk.length > disturbance.stallAfterBytes) return new Promise<void>(() => undefined);
        seen += chunk.length;
        sink.enqueue(chunk);
        if (disturbance.abortAfterBytes !== undefined && seen >= disturbance.abortAfterBytes) controller.abort();
      },
    });
    return new Response(response.body.pipeThrough(counter), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

async function sha256Hex(blob: Blob): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const api = {
  /** Runs ensureFiles; returns the progress events and the error, if any. */
  async ensure(packageUrl: string, files: readonly PackageFile[], options: Disturbance & { modelId?: string; retry?: DownloadRetryOptions } = {}) {
    const events: DownloadProgressEvent[] = [];
    const controller = new AbortController();
    try {
      await store.ensureFiles(packageUrl, files, {
        signal: controller.signal,
        onProgress: (event) => events.push(event),
        fetch: disturbingFetch(options, controller),
        modelId: options.modelId,
        retry: options.retry,
      });
      return { events, error: null };
    } catch (error) {
      return { events, error: serialize(error) };
    }
  },
  /** getFile, then its size, type, sha256 and a few bytes at `probeOffset`. */
  async getFile(packageUrl: string, path: string, probeOffset = 0) {
    try {
      const blob = await store.getFile(packageUrl, path);
      const probe = [...new Uint8Array(await blob.slice(probeOffset, probeOffset + 16).arrayBuffer())];
      return { isBlob: blob instanceof Blob, size: blob.size, type: blob.type, sha256: await sha256Hex(blob), probe, error: null };
    } catch (error) {
      return { error: serialize(error) };
    }
  },
  /** getVerifiedFiles; returns size and sha256 per path. */
  async getVerifiedFiles(packageUrl: string, files: readonly PackageFile[]) {
    try {
      const blobs = await store.getVerifiedFiles(packageUrl, files);
      const out: Record<string, { size: number; sha256: string }> = {};
      for (const [path, blob] of blobs) out[path] = { size: blob.size, sha256: await sha256Hex(blob) };
      return { files: out, error: null };
    } catch (error) {
      return { error: serialize(error) };
    }
  },
  listPackages: () => store.listPackages(),
  deletePackage: (packageUrl: string) => store.deletePackage(packageUrl),
  deleteAll: () => store.deleteAll(),
  bytesUsed: () => store.bytesUsed(),
  /** Chunk entries in IndexedDB for a package (or all), counted directly. */
  countChunks: (packageUrl?: string) => raw.countChunks(packageUrl),
  /** The raw file record. */
  fileRecord: (packageUrl: string, path: string) => raw.getFileRecord(packageUrl, path),
  /** Overwrites one stored chunk with random bytes of the same length, behind the store's back. */
  async corruptChunk(packageUrl: string, path: string, index: number) {
    const chunk = await raw.getChunk(packageUrl, path, index);
    if (!chunk) throw new Error(`no chunk ${index}`);
    const noise = new Uint8Array(chunk.size);
    for (let i = 0; i < noise.length; i += 65536) crypto.getRandomValues(noise.subarray(i, i + 65536));
    await set(chunkKey(packageUrl, path, index), new Blob([noise]), createStore(WEIGHT_STORE_DEFAULTS.dbName, WEIGHT_STORE_DEFAULTS.storeName));
  },
  /** Makes navigator.storage.estimate() report this quota and usage (bytes). */
  fakeEstimate(quota: number, usage: number) {
    navigator.storage.estimate = async () => ({ quota, usage });
  },
  /** Counts navigator.storage.persist() calls (and reports storage as not yet persistent). */
  spyOnPersist() {
    navigator.storage.persisted = async () => false;
    navigator.storage.persist = async () => {
      persistCalls.push(Date.now());
      return true;
    };
  },
  persistCalls: () => persistCalls.length,
  /** Starts counting crypto.subtle.digest calls (returns nothing; read with `digestCalls`). */
  countDigests() {
    const subtle = crypto.subtle;
    const original = subtle.digest.bind(subtle);
    digestCalls.length = 0;
    subtle.digest = ((algorithm: AlgorithmIdentifier, data: BufferSource) => {
      digestCalls.push(Date.now());
      return original(algorithm, data);
    }) as typeof subtle.digest;
  },
  digestCalls: () => digestCalls.length,
  /** Runs ensureFiles and aborts its signal `afterMs` after the first retry event. */
  async ensureAbortingWhileRetrying(packageUrl: string, files: readonly PackageFile[], retry: DownloadRetryOptions, afterMs: number) {
    const events: DownloadProgressEvent[] = [];
    const controller = new AbortController();
    const started = performance.now();
    let abortedAt = 0;
    try {
      await store.ensureFiles(packageUrl, files, {
        signal: controller.signal,
        retry,
        onProgress: (event) => {
          events.push(event);
          if (event.status === 'retrying' && !abortedAt) setTimeout(() => ((abortedAt = performance.now()), controller.abort()), afterMs);
        },
      });
      return { events, error: null, settledAfterAbortMs: 0 };
    } catch (error) {
      return { events, error: serialize(error), settledAfterAbortMs: performance.now() - (abortedAt || started) };
    }
  },
};
const digestCalls: number[] = [];

declare global {
  interface Window {
    weightStoreTest: typeof api;
  }
}
window.weightStoreTest = api;
