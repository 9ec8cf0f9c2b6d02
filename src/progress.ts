import type { MemoryPlan } from './engine/memory-plan.ts';
import type { ImportProgressEvent } from './import/import-progress.ts';
import type { PreviewImage } from './pipeline/preview.ts';

/**
 * Progress events of a generation, a union tagged on `stage` (like transformers.js's
 * `status`): `download` per file and in total, `load`, `encode`, `denoise` per step,
 * `decode`, `done`; `remote` while a hosted provider works; `plan` when the local engine
 * has chosen its memory plan (again after a fallback); `import` while a model is
 * converted from the Hub into this browser's storage (first use of a Hub model).
 */
export type ProgressEvent =
  | { stage: 'plan'; plan: MemoryPlan; reason: string; neededBytes: number; availableBytes: number }
  | { stage: 'download'; status?: 'downloading'; file: string; loaded: number; total: number; totalLoaded: number; totalBytes: number }
  | DownloadRetryEvent
  | { stage: 'load'; graph: string; index: number; count: number }
  | { stage: 'encode' }
  | { stage: 'denoise'; step: number; steps: number; image: number; images: number; preview?: PreviewImage }
  | { stage: 'decode'; image: number; images: number }
  | RemoteProgressEvent
  | ImportProgressEvent
  | { stage: 'done' };

/**
 * A model download waits before retrying a request (a dropped or stalled connection, HTTP
 * 408/429/5xx, a chunk that failed its sha256). Byte fields as in the other `download`
 * events; `message` says it for people, e.g. "the connection dropped; retrying in 4 s
 * (attempt 2 of 6)".
 */
export interface DownloadRetryEvent {
  stage: 'download';
  status: 'retrying';
  /** The file being downloaded (path in the package). */
  file: string;
  /** Bytes of `file` held so far (the retry resumes from here). */
  loaded: number;
  total: number;
  totalLoaded: number;
  totalBytes: number;
  /** What failed: 'stalled', 'network', 'dropped', 'http', 'range' or 'chunk'. */
  fault: 'stalled' | 'network' | 'dropped' | 'http' | 'range' | 'chunk';
  /** The HTTP status, for `fault: 'http'`. */
  httpStatus?: number;
  /** The request about to be made, counting from 1 since the last byte stored. */
  attempt: number;
  /** Requests allowed in a row without a new byte stored. */
  maxAttempts: number;
  /** Milliseconds until the retry. */
  delayMs: number;
  message: string;
}

/** What a remote task is doing. */
export type RemoteStatus =
  /** Sending the request. */
  | 'submitting'
  /** Accepted, waiting for a worker (`queuePosition` when known). */
  | 'queued'
  /** Running (`progress` 0–1 when known). */
  | 'processing'
  /** Waiting before a retry (rate limited, or a 5xx); `detail` says why and for how long. */
  | 'waiting'
  /** Fetching result image `image` of `images`. */
  | 'downloading';

/** Progress of a generation on a hosted provider; providers emit these, then `{stage: 'done'}`. */
export interface RemoteProgressEvent {
  stage: 'remote';
  /** The provider's id. */
  provider: string;
  status: RemoteStatus;
  /** Milliseconds since `generate()` was called. */
  elapsedMs: number;
  /** The provider's own words (e.g. "Pending", "IN_QUEUE", "rate limited, retrying in 1.0 s"). */
  detail?: string;
  /** 0-based place in the provider's queue, when it says. */
  queuePosition?: number;
  /** 0–1, when the provider says. */
  progress?: number;
  /** 0-based image index, where images are made by separate tasks or downloaded one by one. */
  image?: number;
  images?: number;
}

/** Events a provider emits: remote ones, then the shared `{stage: 'done'}`. */

/** A progress callback. Must not throw. */
export type ProgressCallback = (event: ProgressEvent) => void;
