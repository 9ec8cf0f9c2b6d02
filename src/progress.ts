/**
 * Progress events of a generation, a union tagged on `stage` (like transformers.js's
 * `status`): `download` per file and in total, `load`, `encode`, `denoise` per step,
 * `decode`, `done`.
 */
export type ProgressEvent =
  | { stage: 'download'; file: string; loaded: number; total: number; totalLoaded: number; totalBytes: number }
  | { stage: 'load'; graph: string; index: number; count: number }
  | { stage: 'encode' }
  | { stage: 'denoise'; step: number; steps: number; image: number; images: number }
  | { stage: 'decode'; image: number; images: number }
  | { stage: 'done' };

/** A progress callback. Must not throw. */
export type ProgressCallback = (event: ProgressEvent) => void;
