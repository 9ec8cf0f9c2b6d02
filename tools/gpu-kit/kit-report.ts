/**
 * The kit's results (`gpu-bench.json`) and the short tables it prints last.
 */
import { formatBytes, table } from '../bench/measure.ts';
import type { ShardKind } from './kit-model.ts';
import type { KernelProfile } from './profile.ts';

/** One timed (variant, shard, image size). */
export interface ShardResult {
  variant: string;
  shard: ShardKind;
  graph: string;
  /** Image side in pixels; null for the T5 shards (always 256 tokens). */
  size: number | null;
  weightBytes: number;
  createMs?: number;
  firstRunMs?: number;
  medianMs?: number;
  samplesMs?: number[];
  spread?: number;
  flops: number;
  tflops?: number;
  /** Achieved rate over the measured matmul peaks of the same EP. */
  ofFp32Peak?: number;
  ofFp16Peak?: number;
  check?: CheckResult;
  /** Why it has no timing (error, skipped, unavailable). */
  status: 'ok' | 'error' | 'skipped' | 'unavailable';
  message?: string;
}

/** A variant's accuracy check against the CPU reference. */
export interface CheckResult {
  reference: string;
  relL2: number;
  tolerance: number;
  rule: string;
  pass: boolean;
  /** The same output against the fp32-weights reference (the q4 weight error included). */
  relL2VsFp32?: number;
}

/** A measured matmul rate. */
export interface PeakResult {
  dtype: 'float32' | 'float16';
  n: number;
  medianMs: number;
  tflops: number;
}

/** What the kit recommends for one choice, from this run's numbers. */
export interface Recommendation {
  choice: string;
  variant: string;
  against: string;
  decision: 'use' | 'keep default' | 'undecided' | 'not measured';
  reason: string;
}

export interface KitReport {
  kit: { model: string; ep: string; startedAt: string; args: string[]; node: string; onnxruntime: string };
  machine: Record<string, unknown>;
  adapter: { shaderF16?: boolean; f16Message?: string; graphCapture?: string };
  peaks: PeakResult[];
  transfer: { uploadGBps?: number; downloadGBps?: number; bytes?: number; syncOverheadMs?: number };
  checkpoint?: { bytes: number; ms: number };
  conversions: { package: string; ms: number; bytes: number }[];
  references: { package: string; shard: ShardKind; ms: number }[];
  q4WeightError: Partial<Record<ShardKind, number>>;
  sessions: { createMsPerGB?: number; bytes?: number; basis?: string };
  shards: ShardResult[];
  /** GPU time by op type of a few shards at the largest size (WebGPU EP). */
  profiles: KernelProfile[];
  anchor?: Record<string, unknown>;
  recommendations: Recommendation[];
  /** Checks the default variants (fp32, q4) failed on this EP: the first thing to fix. */
  defaultFailures?: string[];
  errors: { stage: string; message: string }[];
  stagesMs: Record<string, number>;
  totalMs?: number;
}

const fixed = (v: number | undefined, digits = 1) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));
/** Three significant digits at most, no exponent for the values a table shows. */
const sig = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(v >= 10 ? 1 : 2) : v.toPrecision(2));
const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : `${(100 * v).toFixed(1)} %`);

/** The per-shard table (the headline result). */
export function shardTable(report: KitReport): string {
  const rows = [['variant', 'shard', 'size', 'weights', 'ms', 'GFLOP', 'TFLOP/s', 'of fp32 peak', 'of fp16 peak', 'check']];
  for (const r of report.shards) {
    const check = r.check ? `${r.check.pass ? 'ok' : 'FAIL'} ${r.check.relL2.toExponential(1)}` : '';
    rows.push([
      r.variant,
      r.shard,
      r.size === null ? '256 tok' : `${r.size}²`,
      formatBytes(r.weightBytes),
      r.status === 'ok' ? fixed(r.medianMs, r.medianMs !== undefined && r.medianMs < 10 ? 2 : 1) : r.status,
      r.flops ? sig(r.flops / 1e9) : '-',
      r.flops ? sig(r.tflops) : '-',
      pct(r.ofFp32Peak),
      pct(r.ofFp16Peak),
      check,
    ]);
  }
  return table(rows);
}

/** A few lines on the device, the peaks, transfers, the anchor and the recommendations. */
export function summaryLines(report: KitReport): string[] {
  const lines: string[] = [];
  for (const p of report.peaks) lines.push(`matmul peak ${p.dtype} ${p.n}³: ${p.tflops.toFixed(2)} TFLOP/s (${p.medianMs.toFixed(2)} ms)`);
  const t = report.transfer;
  if (t.uploadGBps !== undefined) lines.push(`upload ${fixed(t.uploadGBps, 2)} GB/s, download ${fixed(t.downloadGBps, 2)} GB/s (${formatBytes(t.bytes ?? 0)}), sync overhead ${fixed(t.syncOverheadMs, 3)} ms`);
  if (report.sessions.createMsPerGB !== undefined && (report.sessions.bytes ?? 0) >= 1e8) lines.push(`session creation: ${(report.sessions.createMsPerGB / 1000).toFixed(2)} s per GB of weights (${report.sessions.basis})`);
  lines.push(`shader-f16: ${report.adapter.shaderF16 === undefined ? '-' : report.adapter.shaderF16 ? 'yes' : 'no'}; graph capture: ${report.adapter.graphCapture ?? '-'}`);
  for (const p of report.profiles) {
    const top = p.ops.slice(0, 4).map((o) => `${o.op} ${(100 * o.share).toFixed(0)} %`).join(', ');
    lines.push(`GPU time ${p.variant} ${p.shard}${p.size ? ` ${p.size}²` : ''}: ${p.gpuMs.toFixed(2)} ms in ${p.dispatches} dispatches: ${top}`);
  }
  const anchor = report.anchor as { blocks?: { shard: string; size: number; ms: number; tflops: number }[]; check?: Record<string, number>; error?: string } | undefined;
  if (anchor?.check) lines.push(`PyTorch anchor = the ONNX blocks? float32 vs onnxruntime CPU, relative L2: ${Object.entries(anchor.check).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')}`);
  if (anchor?.blocks) for (const b of anchor.blocks) lines.push(`PyTorch bf16 anchor ${b.shard} ${b.size}²: ${b.ms.toFixed(2)} ms, ${b.tflops.toFixed(1)} TFLOP/s`);
  if (anchor?.error) lines.push(`PyTorch anchor: ${anchor.error}`);
  for (const failure of report.defaultFailures ?? []) lines.push(`DEFAULT FAILS ITS CHECK: ${failure}`);
  const mark = { use: 'USE ', 'keep default': 'keep', undecided: '  ? ', 'not measured': '  - ' };
  for (const r of report.recommendations) lines.push(`${mark[r.decision]} ${r.choice}: ${r.reason}`);
  if (report.errors.length) lines.push(`${report.errors.length} error(s); see errors in gpu-bench.json`);
  return lines;
}
