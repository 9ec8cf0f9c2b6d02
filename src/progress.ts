import type { MemoryPlan } from './engine/memory-plan.ts';
import type { PreviewImage } from './pipeline/preview.ts';

/**
 * Progress events of a generation, a union tagged on `stage` (like transformers.js's
 * `status`): `download` per file and in total, `load`, `encode`, `denoise` per step,
 * `decode`, `done`; `remote` while a hosted provider works; `plan` when the local engine
 * has chosen its memory plan (again after a fallback).
 */
export type ProgressEvent =
  | { stage: 'plan'; plan: MemoryPlan; reason: string; neededBytes: number; availableBytes: number }
  | { stage: 'download'; file: string; loaded: number; total: number; totalLoaded: number; totalBytes: number }
  | { stage: 'load'; graph: string; index: number; count: number }
  | { stage: 'encode' }
  | { stage: 'denoise'; step: number; steps: number; image: number; images: number; preview?: PreviewImage }
  | { stage: 'decode'; image: number; images: number }
  | RemoteProgressEvent
  | { stage: 'done' };

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
