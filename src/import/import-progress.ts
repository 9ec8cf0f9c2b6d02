/**
 * Progress of an in-page import: source bytes per file and in total (known from the
 * conversion plan before the first tensor byte), the graph being converted, the bytes
 * written into the weight store, and the time left, estimated from this session's rate.
 * After a resume, the bytes of the graphs an earlier session finished count as received.
 */
import type { ConversionPlan } from '../convert/conversion-plan.ts';

/** One progress event of an import (the `import` stage of a generation's progress). */
export interface ImportProgressEvent {
  stage: 'import';
  /**
   * 'planning': listing the repositories, reading configs and headers, checking the
   * device and the storage quota (no tensor byte yet); 'converting': fetching tensors and
   * writing graphs; 'saving': tokenizers and the manifest; 'done'.
   */
  phase: 'planning' | 'converting' | 'saving' | 'done';
  /** The imported package's URL (its key in the weight store). */
  packageUrl: string;
  /** Source bytes received so far and in all (0 while planning), over every file. */
  loaded: number;
  total: number;
  /** The same per source file (`hf:` label), in the order they were first read. */
  files: { file: string; loaded: number; total: number }[];
  /** The graph being converted (0-based index of count). */
  graph?: string;
  graphIndex?: number;
  graphCount?: number;
  /** Graphs an earlier session converted and this one keeps. */
  graphsKept?: number;
  /** Bytes written into the weight store this session, and the package's estimated size. */
  storedBytes: number;
  storedTotal: number;
  /** Source bytes per second over this session, once measurable. */
  bytesPerSecond?: number;
  /** Milliseconds left at that rate, once measurable. */
  etaMs?: number;
}

/** Least time between two progress events, in milliseconds (phase changes always report). */
const INTERVAL_MS = 100;

/** Follows an import and emits `ImportProgressEvent`s. */
export class ImportProgress {
  private phase: ImportProgressEvent['phase'] = 'planning';
  /** Bytes received per file label this session. */
  private readonly received = new Map<string, number>();
  /** Per-file bytes received before the plan (configs, headers): part of both loaded and total. */
  private beforePlan?: Map<string, number>;
  /** Per-file bytes an earlier session received for the graphs it finished. */
  private carried = new Map<string, number>();
  private plan?: ConversionPlan;
  private planAt = 0;
  private graph?: { name: string; index: number; count: number };
  private kept = 0;
  private stored = 0;
  private lastEmit = -Infinity;

  constructor(
    private readonly packageUrl: string,
    private readonly emit: (event: ImportProgressEvent) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Bytes of `file` arrived. */
  bytes(file: string, count: number): void {
    this.received.set(file, (this.received.get(file) ?? 0) + count);
    this.report(false);
  }

  /** Bytes were written into the store. */
  wrote(count: number): void {
    this.stored += count;
  }

  /** The plan is known: totals from here on. */
  planned(plan: ConversionPlan): void {
    this.plan = plan;
    this.beforePlan = new Map(this.received);
    this.planAt = this.now();
  }

  /** What an earlier session received for its finished graphs (from the saved state). */
  resumeFrom(carried: Record<string, number>): void {
    this.carried = new Map(Object.entries(carried));
  }

  /** Per-file source bytes received after the plan for graphs finished so far (earlier sessions included), for the saved state. */
  finishedGraphBytes(): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries(this.carried);
    for (const [file, bytes] of this.received) {
      const after = bytes - (this.beforePlan?.get(file) ?? 0);
      if (after > 0) out[file] = (out[file] ?? 0) + after;
    }
    return out;
  }

  /** A graph starts (or is kept from an earlier session). */
  graphStarted(name: string, index: number, count: number, kept: boolean): void {
    if (kept) this.kept += 1;
    this.graph = { name, index, count };
    this.setPhase('converting');
  }

  setPhase(phase: ImportProgressEvent['phase']): void {
    this.phase = phase;
    this.report(true);
  }

  /** The current event. */
  snapshot(): ImportProgressEvent {
    const files = new Map<string, { loaded: number; total: number }>();
    for (const [file, bytes] of this.received) files.set(file, { loaded: bytes + (this.carried.get(file) ?? 0), total: 0 });
    if (this.plan) {
      for (const [file, bytes] of Object.entries(this.plan.reads)) {
        const entry = files.get(file) ?? { loaded: this.carried.get(file) ?? 0, total: 0 };
        entry.total = (this.beforePlan?.get(file) ?? 0) + bytes;
        files.set(file, entry);
      }
      // Headers read before the plan count as read and as part of the total.
      for (const [file, bytes] of this.beforePlan ?? []) if (!(file in this.plan.reads)) files.get(file)!.total = bytes;
    }
    const list = [...files].map(([file, { loaded, total }]) => ({ file, loaded: Math.min(loaded, total || loaded), total }));
    const loaded = list.reduce((sum, f) => sum + f.loaded, 0);
    const total = this.plan ? list.reduce((sum, f) => sum + f.total, 0) : 0;
    const event: ImportProgressEvent = {
      stage: 'import',
      phase: this.phase,
      packageUrl: this.packageUrl,
      loaded,
      total,
      files: list,
      storedBytes: this.stored,
      storedTotal: this.plan?.storedBytes ?? 0,
    };
    if (this.graph) Object.assign(event, { graph: this.graph.name, graphIndex: this.graph.index, graphCount: this.graph.count, graphsKept: this.kept });
    const elapsed = this.now() - this.planAt;
    if (this.plan && elapsed > 500) {
      let session = 0;
      for (const [file, bytes] of this.received) session += bytes - (this.beforePlan?.get(file) ?? 0);
      if (session > 0) {
        event.bytesPerSecond = (session / elapsed) * 1000;
        event.etaMs = (Math.max(0, total - loaded) / event.bytesPerSecond) * 1000;
      }
    }
    return event;
  }

  private report(force: boolean): void {
    const t = this.now();
    if (!force && t - this.lastEmit < INTERVAL_MS) return;
    this.lastEmit = t;
    this.emit(this.snapshot());
  }
}

/** An import's progress in words, for a progress bar: stage, numbers, fraction (0–1 or null), time left. */
export function describeImportProgress(event: ImportProgressEvent, formatBytes: (bytes: number) => string): { stage: string; detail: string; fraction: number | null; etaMs?: number } {
  if (event.phase === 'planning') return { stage: 'Reading the model’s files on the Hub', detail: 'file list, configs, headers', fraction: null };
  if (event.phase === 'done') return { stage: 'Model imported', detail: `${formatBytes(event.loaded)} downloaded`, fraction: 1 };
  const part = event.graphCount ? ` · part ${(event.graphIndex ?? 0) + 1} of ${event.graphCount}` : '';
  return {
    stage: event.phase === 'saving' ? 'Saving the imported model' : 'Downloading and converting the model (once)',
    detail: `${formatBytes(event.loaded)} of ${formatBytes(event.total)}${part}`,
    fraction: event.total ? event.loaded / event.total : null,
    etaMs: event.etaMs,
  };
}
