/**
 * Page of the `download-faults` bench (tools/bench/download-faults.ts), served from the
 * sources by a Vite dev server. Exposes `window.faultBench`: the weight store on this
 * page's main thread, with plain-JSON results for Playwright.
 */
import type { PackageFile } from '../../../src/package/manifest.ts';
import type { DownloadRetryOptions } from '../../../src/store/download-retry.ts';
import { WeightStore } from '../../../src/store/weight-store.ts';

const store = new WeightStore();

/** What one `ensureFiles` call did. */
export interface FaultRun {
  /** `name: message` of the error, or null. */
  error: string | null;
  /** The retry events' messages. */
  retries: string[];
  ms: number;
}

const api = {
  async ensure(packageUrl: string, files: readonly PackageFile[], retry: DownloadRetryOptions): Promise<FaultRun> {
    const retries: string[] = [];
    const t0 = performance.now();
    try {
      await store.ensureFiles(packageUrl, files, { retry, onProgress: (e) => void (e.status === 'retrying' && retries.push(`${e.fault}: ${e.message}`)) });
      return { error: null, retries, ms: performance.now() - t0 };
    } catch (error) {
      return { error: `${(error as Error).name}: ${(error as Error).message}`, retries, ms: performance.now() - t0 };
    }
  },
  /**
   * Whether the stored file is exactly the original: every stored chunk re-read and hashed
   * (`getFile` with `verify`), and the hashes it was stored with equal the manifest's.
   */
  async intact(packageUrl: string, path: string, expected: string[]): Promise<boolean> {
    try {
      const blob = await store.getFile(packageUrl, path, { verify: true });
      const record = (await store.listPackages()).flatMap((p) => p.files).find((f) => f.path === path);
      const stored = await storedChunkHashes(packageUrl, path);
      return Boolean(record?.complete) && blob.size === record!.size && stored.length === expected.length && stored.every((h, i) => h === expected[i]);
    } catch {
      return false;
    }
  },
  deleteAll: () => store.deleteAll(),
};

/** The chunk hashes a stored file's record holds. */
async function storedChunkHashes(packageUrl: string, path: string): Promise<string[]> {
  const { ChunkedFileStore } = await import('../../../src/store/chunked-file-store.ts');
  const { WEIGHT_STORE_DEFAULTS } = await import('../../../src/store/weight-store-defaults.ts');
  const record = await new ChunkedFileStore(WEIGHT_STORE_DEFAULTS.dbName, WEIGHT_STORE_DEFAULTS.storeName).getFileRecord(packageUrl, path);
  return record?.chunkSha256 ?? [];
}

declare global {
  interface Window {
    faultBench: typeof api;
  }
}
window.faultBench = api;
