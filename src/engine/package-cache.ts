/**
 * What the engine learns once per package per session and shares between routing
 * (`checkDevice`), loading and the choice of how to run: the manifest (fetched once) and
 * the device report for it (probed once: features, limits, a trial allocation, and
 * whatever else a `DeviceReport` carries). Reports depend on the GPU device, so they are
 * dropped when the device is lost. A lookup that fails is not kept: the next call tries
 * again.
 */
import type { Manifest } from '../package/manifest.ts';
import type { DeviceReport } from './protocol.ts';

/** Manifests and device reports by package URL (absolute, ending in "/"). */
export class PackageCache {
  private readonly manifests = new Map<string, Promise<Manifest>>();
  private readonly reports = new Map<string, Promise<DeviceReport>>();

  /** The package's manifest, fetched by `fetch` the first time only. */
  manifest(url: string, fetch: () => Promise<Manifest>): Promise<Manifest> {
    return remember(this.manifests, url, fetch);
  }

  /** The device report for the package, made by `probe` the first time only (per GPU device). */
  deviceReport(url: string, probe: () => Promise<DeviceReport>): Promise<DeviceReport> {
    return remember(this.reports, url, probe);
  }

  /** Forgets every device report (the device was lost or replaced). */
  dropDeviceReports(): void {
    this.reports.clear();
  }

  /** Forgets everything about one package (e.g. after it was deleted). */
  forget(url: string): void {
    this.manifests.delete(url);
    this.reports.delete(url);
  }
}

function remember<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let value = map.get(key);
  if (!value) {
    const made = make();
    value = made;
    map.set(key, made);
    made.catch(() => {
      if (map.get(key) === made) map.delete(key);
    });
  }
  return value;
}
