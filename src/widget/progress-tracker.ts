/**
 * Turns the stream of progress events of one generation into what a person wants to
 * see: the stage, its numbers (MB of MB, step i of N), a fraction for the bar, and the
 * time left, estimated from the steps (or bytes) done so far.
 */
import { formatBytes } from '../format-bytes.ts';
import { describeImportProgress } from '../import/import-progress.ts';
import type { ProgressEvent } from '../progress.ts';
import { PROVIDER_INFO, type ProviderKind } from '../providers/config.ts';

/** What the progress bar and its text show. */
export interface ProgressView {
  /** The stage in words: "Downloading the model", "Denoising", … */
  stage: string;
  /** The numbers: "1.2 MB of 1.8 MB", "step 2 of 4". Empty when there are none. */
  detail: string;
  /** 0–1 for the bar, or null when unknown (an indeterminate bar). */
  fraction: number | null;
  /** Milliseconds left, when it can be estimated. */
  etaMs?: number;
  /** One line: stage, numbers and time left. */
  text: string;
}

/** "about 12 s left", "about 2 min left". */
export function formatEta(ms: number): string {
  if (ms < 1500) return 'almost done';
  const s = Math.round(ms / 1000);
  return s < 90 ? `about ${s} s left` : `about ${Math.round(s / 60)} min left`;
}

/** Follows one generation's progress events. */
export class ProgressTracker {
  private lastAt: number;
  private firstStepAt?: number;
  private firstStepDone = 0;
  private beforeFirstStepAt?: number;
  private download?: { at: number; bytes: number };

  constructor(private readonly now: () => number = () => performance.now()) {
    this.lastAt = now();
  }

  /** The view after `event`. */
  update(event: ProgressEvent): ProgressView {
    const t = this.now();
    const view = this.viewOf(event, t);
    this.lastAt = t;
    const eta = view.etaMs === undefined ? '' : formatEta(view.etaMs);
    return { ...view, text: [view.stage, view.detail, eta].filter(Boolean).join(' · ') };
  }

  private viewOf(event: ProgressEvent, t: number): Omit<ProgressView, 'text'> {
    switch (event.stage) {
      case 'plan':
        return { stage: 'Planning GPU memory', detail: event.reason, fraction: null };
      case 'download': {
        if (event.status === 'retrying') {
          return { stage: 'Downloading the model (once)', detail: `${formatBytes(event.totalLoaded)} of ${formatBytes(event.totalBytes)} · ${event.message}`, fraction: event.totalBytes ? event.totalLoaded / event.totalBytes : null };
        }
        this.download ??= { at: t, bytes: event.totalLoaded };
        const rate = (event.totalLoaded - this.download.bytes) / Math.max(1, t - this.download.at);
        const left = event.totalBytes - event.totalLoaded;
        return {
          stage: 'Downloading the model (once)',
          detail: `${formatBytes(event.totalLoaded)} of ${formatBytes(event.totalBytes)}`,
          fraction: event.totalBytes ? event.totalLoaded / event.totalBytes : null,
          etaMs: rate > 0 && t - this.download.at > 500 ? left / rate : undefined,
        };
      }
      case 'load':
        return { stage: 'Loading the model onto the GPU', detail: `part ${event.index} of ${event.count}`, fraction: event.count ? event.index / event.count : null };
      case 'encode':
        return { stage: 'Reading the prompt', detail: '', fraction: null };
      case 'denoise': {
        const total = event.steps * event.images;
        const done = (event.image - 1) * event.steps + event.step;
        if (this.firstStepAt === undefined) {
          this.firstStepAt = t;
          this.firstStepDone = done;
          this.beforeFirstStepAt = this.lastAt;
        }
        // Time per step: from the steps after the first when there are any (the first one
        // also waited for the prompt encoding), else from the first step alone.
        const perStep = done > this.firstStepDone ? (t - this.firstStepAt) / (done - this.firstStepDone) : t - (this.beforeFirstStepAt ?? t);
        const images = event.images > 1 ? `image ${event.image} of ${event.images}, ` : '';
        return {
          stage: 'Denoising',
          detail: `${images}step ${event.step} of ${event.steps}`,
          fraction: done / total,
          etaMs: done < total && perStep > 0 ? perStep * (total - done) : undefined,
        };
      }
      case 'decode':
        return { stage: 'Decoding the image', detail: event.images > 1 ? `image ${event.image} of ${event.images}` : '', fraction: 1 };
      case 'remote': {
        const where = event.queuePosition !== undefined ? `place ${event.queuePosition + 1} in the queue` : (event.detail ?? event.status);
        return {
          stage: `Waiting for ${PROVIDER_INFO[event.provider as ProviderKind]?.label ?? event.provider}`,
          detail: `${where} · ${(event.elapsedMs / 1000).toFixed(0)} s`,
          fraction: event.progress ?? null,
        };
      }
      case 'import':
        return describeImportProgress(event, formatBytes);
      case 'done':
        return { stage: 'Done', detail: '', fraction: 1 };
    }
  }
}
