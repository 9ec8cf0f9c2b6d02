/**
 * Browser storage checks before a download: ask for persistent storage (so the browser
 * does not evict gigabytes of weights under pressure) and compare the free quota from
 * `navigator.storage.estimate()` with the bytes still to download.
 */
import { StorageQuotaError } from '../errors.ts';
import { formatBytes } from '../format-bytes.ts';
import { WEIGHT_STORE_DEFAULTS } from './weight-store-defaults.ts';

/** The parts of `navigator.storage` used here (injectable for tests). */
export interface StorageEstimator {
  estimate?: () => Promise<StorageEstimate>;
  persist?: () => Promise<boolean>;
  persisted?: () => Promise<boolean>;
}

function defaultStorage(): StorageEstimator | undefined {
  return typeof navigator === 'undefined' ? undefined : navigator.storage;
}

let persistenceRequest: Promise<boolean> | undefined;

/**
 * Asks the browser once per page (JS realm) to keep this origin's storage persistent.
 * `persist()` exists only on the main thread (not in workers): call this from the page
 * too, e.g. when the user starts a download. Never throws.
 * @returns whether storage is persistent (false where the API is missing or the browser declined)
 */
export function requestPersistentStorage(storage: StorageEstimator | undefined = defaultStorage()): Promise<boolean> {
  persistenceRequest ??= (async () => {
    try {
      if (await storage?.persisted?.()) return true;
      return typeof storage?.persist === 'function' ? await storage.persist() : false;
    } catch {
      return false;
    }
  })();
  return persistenceRequest;
}

/**
 * Bytes to ask for on top of `neededBytes`: a fixed part plus a fraction
 * (IndexedDB's own overhead, other writes of the site, the estimate's inaccuracy).
 */
export function quotaHeadroomBytes(neededBytes: number): number {
  return WEIGHT_STORE_DEFAULTS.quotaHeadroomBytes + Math.ceil(neededBytes * WEIGHT_STORE_DEFAULTS.quotaHeadroomFraction);
}

/**
 * Throws when the origin's free quota is smaller than `neededBytes` plus headroom.
 * Does nothing when the browser gives no estimate.
 * @param neededBytes bytes still to download and store
 * @throws StorageQuotaError saying how much is needed and how much is available (MB/GB)
 */
export async function assertStorageAvailable(neededBytes: number, storage: StorageEstimator | undefined = defaultStorage()): Promise<void> {
  if (neededBytes <= 0 || typeof storage?.estimate !== 'function') return;
  let estimate: StorageEstimate;
  try {
    estimate = await storage.estimate();
  } catch {
    return;
  }
  const { quota, usage = 0 } = estimate;
  if (quota === undefined) return;
  const available = Math.max(0, quota - usage);
  const headroom = quotaHeadroomBytes(neededBytes);
  const required = neededBytes + headroom;
  if (required <= available) return;
  throw new StorageQuotaError(
    `Not enough browser storage for the model files: ${formatBytes(required)} needed ` +
      `(${formatBytes(neededBytes)} still to download + ${formatBytes(headroom)} headroom), ` +
      `${formatBytes(available)} available (this site's quota ${formatBytes(quota)}, ${formatBytes(usage)} already used). ` +
      'Free disk space or delete stored models, then try again.',
    required,
    available,
  );
}
