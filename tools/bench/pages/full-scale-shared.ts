/** What the `full-scale` bench's page, workers and Node side share (types and names only). */

/** BroadcastChannel on which the bench's generator worker answers `{type: 'stats'}`. */
export const FULL_SCALE_CHANNEL = 'flux-webgpu-full-scale-stats';

/** The generator worker's own counters (bytes). */
export interface WorkerStats {
  type: 'stats-reply';
  gpuLiveBytes: number;
  gpuPeakBytes: number;
  wasmBytes: number;
  buffers: { created: number; destroyed: number; collected: number };
}

/** One plan's run as the page measured it. */
export interface PagePlanRun {
  ok: boolean;
  error?: string;
  /** Stage at which it failed. */
  failedAt?: 'check' | 'load' | 'generate';
  /** checkDevice() as returned (JSON-safe). */
  report?: Record<string, unknown>;
  loadSeconds?: number;
  generateSeconds?: number;
  /** generate()'s result without the images. */
  result?: Record<string, unknown>;
  imageBytes?: number;
  imageSize?: [number, number];
  stats?: WorkerStats;
}

/** A download into the weight store. */
export interface PageFullDownload {
  ok: boolean;
  error?: string;
  ms: number;
  bytes: number;
}
