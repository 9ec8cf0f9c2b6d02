/** Friendly, actionable text for errors and progress events. */
import type { ProgressEvent } from '../progress.ts';
import { formatBytes } from '../models/registry.ts';

/** One sentence saying what went wrong and what to do next. */
export function describeError(error: unknown): string {
  const e = error as { name?: string; message?: string };
  switch (e?.name) {
    case 'AbortedError':
      return 'Cancelled. Nothing was lost: downloaded model files stay stored.';
    case 'InvalidParameterError':
      return `${e.message}.`;
    case 'DeviceCapabilityError':
      return `This device cannot run the model locally: ${e.message}`;
    case 'StorageQuotaError':
      return `Not enough browser storage for the model: ${e.message} Free space (or delete stored models below) and try again.`;
    case 'DownloadError':
      return `A model file could not be downloaded: ${e.message} Try again: the download resumes where it stopped.`;
    case 'IntegrityError':
      return `A model file was damaged and has been removed: ${e.message} Try again to fetch it anew.`;
    case 'ModelPackageError':
      return `The model package is not usable: ${e.message}`;
    default:
      return `Something went wrong: ${e?.message ?? String(error)}`;
  }
}

/** Progress as a fraction (0–1, or null when unknown) and a status line. */
export function describeProgress(event: ProgressEvent): { fraction: number | null; text: string } {
  switch (event.stage) {
    case 'download':
      return {
        fraction: event.totalBytes ? event.totalLoaded / event.totalBytes : null,
        text: `Downloading the model: ${formatBytes(event.totalLoaded)} of ${formatBytes(event.totalBytes)} (${event.file}: ${formatBytes(event.loaded)} of ${formatBytes(event.total)})`,
      };
    case 'load':
      return { fraction: event.count ? event.index / event.count : null, text: `Loading the model onto the GPU: ${event.graph} (${event.index} of ${event.count})` };
    case 'encode':
      return { fraction: null, text: 'Reading the prompt (text encoders)…' };
    case 'denoise':
      return {
        fraction: event.step / event.steps,
        text: `Image ${event.image} of ${event.images}: step ${event.step} of ${event.steps}`,
      };
    case 'decode':
      return { fraction: 1, text: `Image ${event.image} of ${event.images}: decoding…` };
    case 'remote':
      return {
        fraction: event.progress ?? null,
        text: `${event.provider}: ${event.detail ?? event.status}${event.queuePosition !== undefined ? ` (place ${event.queuePosition + 1} in the queue)` : ''} · ${(event.elapsedMs / 1000).toFixed(0)} s`,
      };
    case 'done':
      return { fraction: 1, text: 'Done.' };
  }
}
