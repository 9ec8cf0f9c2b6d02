/** What the `browser` bench's page, worker and Node side share (types and names only). */

/** BroadcastChannel on which the bench worker posts its onnxruntime timings. */
export const BENCH_CHANNEL = 'flux-webgpu-bench-session-timing';

/** One timed onnxruntime call in the bench worker. */
export interface SessionTiming {
  kind: 'create' | 'run';
  /** The graph's name (the session's `logId`, which WebModelRuntime sets to the graph name). */
  graph: string;
  /** Absolute start and end, ms since the epoch (`performance.timeOrigin + now()`, sub-ms precision). */
  start: number;
  end: number;
}

/** A progress event as the page saw it, with its absolute arrival time. */
export interface TimedProgress {
  t: number;
  stage: string;
  file?: string;
  loaded?: number;
  total?: number;
  graph?: string;
  step?: number;
}

/** What the page returns for one `generate()`. */
export interface PageGeneration {
  ok: boolean;
  error?: string;
  /** Absolute times of the call and of its settling (ms since the epoch). */
  start: number;
  end: number;
  timings?: Record<string, number>;
  imageBytes?: number;
  progress: TimedProgress[];
  sessions: SessionTiming[];
  /** The memory plan that ran, why, and the counted GPU bytes (peak, and per stage). */
  memoryPlan?: string;
  memoryPlanReason?: string;
  gpuPeakBytes?: number;
  gpuStages?: { stage: string; peakBytes: number; liveBytes: number }[];
  /** The plan's predicted peak (checkDevice at the request's size), bytes. */
  predictedGpuBytes?: number;
}

/** A download into the weight store as the page measured it. */
export interface PageDownload {
  ok: boolean;
  error?: string;
  ms: number;
  bytes: number;
  progressEvents: number;
}

/** A full read of a file (weight store Blob or fetch body). */
export interface PageRead {
  ok: boolean;
  error?: string;
  /** `getFile` (for the store; 0 for fetch: time to the response headers). */
  openMs: number;
  /** Reading the body / Blob through to the end. */
  readMs: number;
  bytes: number;
}
