/**
 * The contract between the page and the generator worker: what the `Engine` in the
 * worker offers and what crosses the boundary. No onnxruntime or DOM imports, so the
 * main thread can import it without pulling the engine in.
 */
import type { GenerateParams, GenerateTimings, OutputFormat } from '../api-types.ts';
import { rebuildError } from '../errors.ts';
import type { ProgressCallback } from '../progress.ts';
import type { GpuMemoryCap } from './device-memory.ts';
import type { MemoryOption, MemoryPlan, MemoryStage } from './memory-plan.ts';
import type { TokenCount } from '../text/token-count.ts';
import type { ModelFamily } from '../models/family.ts';
import { withoutInternalFileNames } from './runtime-errors.ts';
import type { DownloadRetryOptions } from '../store/download-retry.ts';

/** GPU bytes counted during one stage of a request. */
export interface GpuStageMemory {
  /** 'load' (resident: sessions created up front), 'text', 'transformer', 'vae'. */
  stage: 'load' | MemoryStage;
  /** Largest live bytes during the stage. */
  peakBytes: number;
  /** Live bytes when the stage ended (after its sessions were released, where the plan releases them). */
  liveBytes: number;
}

/**
 * One generation as sent to the worker: a checked request's fields (`requestFields` of a
 * `ValidRequest`; the worker checks them again with the same `validateRequest`, as a
 * structured clone may have changed their types) and the package to run it on.
 */
export interface EngineGenerateRequest extends Omit<GenerateParams, 'signal' | 'onProgress'> {
  /** Absolute URL of the model package (ends with "/"). */
  model: string;
  /**
   * Accept any multiple of 16 from 16 to 2048 pixels (the CLI's range) instead of the
   * web API's 256–1440. For tiny test models; the device's buffer limits still apply.
   */
  allowAnySize?: boolean;
  /** Debugging/golden checks: return the first image's intermediate tensors. */
  keepIntermediates?: boolean;
  /** Memory plan (default 'auto': the fastest that fits the measured GPU memory). */
  memory?: MemoryOption;
  /** Set by the page when it runs a request again under a lighter plan: why (goes into `memoryPlanReason`). */
  memoryFallback?: string;
}

/** What the worker returns for one generation. */
export interface EngineGenerateResult {
  images: Blob[];
  seed: number;
  width: number;
  height: number;
  steps: number;
  /** The guidance scale used (guidance-distilled packages only). */
  guidance?: number;
  timings: GenerateTimings;
  warnings: string[];
  /** Image-to-image: the strength used. */
  strength?: number;
  /** With `keepIntermediates`: the first image's tensors, named as in the golden files. */
  intermediates?: Record<string, Float32Array>;
  /** The memory plan that ran. */
  memoryPlan: MemoryPlan;
  /** Why, with the numbers, e.g. "staged: 9.6 GiB needed, 11.2 GiB available (resident needs 13.1 GiB)". */
  memoryPlanReason: string;
  /** Most GPU bytes alive at once during the request (every buffer counted). */
  gpuPeakBytes: number;
  /** Counted GPU bytes per stage (peak, and live when it ended). */
  gpuStages: GpuStageMemory[];
}

/** What `checkDevice` found about GPU memory for one package at one size. */
export interface DeviceMemoryReport {
  /** The size the needs are for (pixels). */
  width: number;
  height: number;
  /** The VAE tile (pixels) the needs assume, as the engine will decode on this GPU; null: whole. */
  vaeTilePx: number | null;
  /** Bytes the device gave to the allocation probe (plus what this engine holds already). */
  availableBytes: number;
  /** True when the probe stopped at the largest need, not at a refusal: the device may have more. */
  availableAtLeast: boolean;
  /** Predicted peak GPU bytes per plan (weights alive at the peak + activations). */
  plans: Record<MemoryPlan, { neededBytes: number; weightBytes: number; activationBytes: number; peakStage: MemoryStage; fits: boolean }>;
  /** The plan `memory` would run (null: none fits). */
  plan: MemoryPlan | null;
  /** Why, with the numbers. */
  reason: string;
}

/** Options of `checkDevice` with a package: the size and memory option to plan for. */
export interface DeviceCheckOptions {
  /** Pixels (default 1024 each). */
  width?: number;
  height?: number;
  /** Default 'auto'. */
  memory?: MemoryOption;
}

/**
 * One VAE decode of given latents (re-decoding saved latents; golden checks of the tiled
 * decode) as sent to the worker.
 */
export interface EngineDecodeRequest {
  /** Absolute URL of the model package (ends with "/"). */
  model: string;
  /** [1, 16, latentHeight, latentWidth] float32, already `z / scaling_factor + shift_factor`. */
  latents: Float32Array;
  latentHeight: number;
  latentWidth: number;
  /**
   * Force diffusers' tiled decode with this tile (`tile_sample_min_size`, pixels: a multiple
   * of 8, at least 32), or null for one whole decode. Default: whole where the GPU's buffer
   * limits allow, else the largest tile that fits.
   */
  tilePx?: number | null;
  /** Default png. */
  outputFormat?: OutputFormat;
  /** 0–1, for jpeg and webp. */
  quality?: number;
  /** Also return the raw decoder output [1, 3, H, W] float32. */
  keepOutput?: boolean;
}

/** What the worker returns for one decode. */
export interface EngineDecodeResult {
  image: Blob;
  width: number;
  height: number;
  /** The tile size used, or null when decoded whole. */
  tilePx: number | null;
  timings: { loadMs: number; decodeMs: number; totalMs: number };
  /** With `keepOutput`: the decoder output [1, 3, height, width]. */
  output?: Float32Array;
}

/** One capability the device lacks for a package. */
export interface DeviceShortfall {
  /** 'webgpu', 'shader-f16', 'maxBufferSize', 'maxStorageBufferBindingSize', 'gpu-memory'. */
  capability: string;
  /** Bytes (or 1 for a feature). */
  needed: number;
  available: number;
  /** A sentence for people. */
  detail: string;
}

/** What `checkDevice()` found (computed once per package per session, and again after a device loss). */
export interface DeviceReport {
  /** Whether the browser has WebGPU and an adapter. */
  webgpu: boolean;
  adapter: { vendor: string; architecture: string; description: string };
  /** The adapter's features, sorted. */
  features: string[];
  /** Bytes. */
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  shaderF16: boolean;
  /** Whether onnxruntime's flash attention is used (subgroups at least 8 wide). */
  flashAttention: boolean;
  /** Whether the page is cross-origin isolated (wasm threads need it). */
  crossOriginIsolated: boolean;
  /** The package checked, when one was given; `family`: 'dev' for guidance-distilled packages, else 'schnell'. */
  model?: { url: string; modelId: string; weights: string; totalFileBytes: number; family: ModelFamily };
  /** The checked package's model id (as `model.modelId`). */
  modelId?: string;
  /** Whether the package can run here (when no package was given: whether WebGPU works). */
  ok: boolean;
  /** Empty when ok. */
  shortfalls: DeviceShortfall[];
  /** One sentence per shortfall, for people (empty when ok). */
  reasons: string[];
  /** Largest width×height the buffer limits allow for the package (Infinity when unknown). */
  maxPixels: number;
  /** With a package: GPU memory per plan at the checked size, what the device gave, and the plan. */
  memory?: DeviceMemoryReport;
}

/** A loaded package. */
export interface LoadedModel {
  url: string;
  modelId: string;
  weights: string;
  /** Whether prompts can be given as text (else only `promptEmbeddings`). */
  textEncoders: boolean;
  graphs: number;
  /** Bytes of all package files. */
  totalFileBytes: number;
  /** Milliseconds this call spent (0 when it was already loaded). */
  loadMs: number;
}

/** A package kept in the browser's storage (the WeightStore's view of it). */
export interface StoredModel {
  /** Absolute URL of the package folder, ending in "/" (pass it to `deleteModel`). */
  packageUrl: string;
  /** The manifest's model id, when known. */
  modelId?: string;
  /** Bytes stored. */
  bytesStored: number;
  /** Bytes of all its files. */
  bytesTotal: number;
  /** Whether every file is stored completely and verified (an imported package: and its import finished). */
  complete: boolean;
  /** Present for an imported package whose import is running or stopped before the end (importing it again resumes). */
  importing?: { source: string; estimatedBytes: number };
  files: { path: string; size: number; sha256: string; bytesStored: number; complete: boolean }[];
}

/** Engine settings the page may choose (before the first load). */
export interface EngineSettings {
  /** Wasm CPU threads (default 1: every compute op runs on the GPU; more need cross-origin isolation). */
  numThreads?: number;
  /** onnxruntime log level (default 'error'). */
  logLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
  /** onnxruntime session log severity, 0 (verbose, shows node placement) – 4 (default 3, errors only). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** False: release each graph after use (low-memory mode, slower). Default true. */
  keepSessions?: boolean;
  /** Debugging: graph node names to run on onnxruntime's CPU kernels instead of WebGPU. */
  forceCpuNodeNames?: string[];
  /** Convolution layout of the WebGPU EP (default onnxruntime's, NHWC). */
  preferredLayout?: 'NCHW' | 'NHWC';
  /** Tests: make the GPU look smaller (see `GpuMemoryCap`). */
  gpuMemoryCap?: GpuMemoryCap;
  /** Absolute URL of onnxruntime's wasm (set from the `wasmPaths` option; default: beside the worker). */
  wasmUrl?: string;
  /** Idle timeout and automatic retries of the model download (see `DownloadRetryOptions` for the defaults). */
  download?: DownloadRetryOptions;
}

/**
 * The engine's operations; the worker exposes an object with exactly these and the
 * client calls them through Comlink. Generation requests carry an id so that they can
 * be cancelled (an AbortSignal cannot cross the boundary).
 */
export interface EngineApi {
  /** Sets options; only before the first load or device check. */
  configure(settings: EngineSettings): Promise<void>;
  /**
   * Probes WebGPU (and, when `model` is given, the package's requirements and the GPU
   * memory each plan needs at `options`' size). Never throws for a shortfall: see `ok`.
   */
  checkDevice(model?: string, options?: DeviceCheckOptions): Promise<DeviceReport>;
  /**
   * Manifest → capability check → download/verify → sessions (created now only where the
   * resident plan would run). With `id`, `cancel(id)` aborts it (queued or running) with
   * AbortedError; stored bytes are kept.
   */
  load(model: string, onProgress?: ProgressCallback, id?: string, options?: { memory?: MemoryOption }): Promise<LoadedModel>;
  /** Queued behind earlier calls; loads the package first when needed. */
  generate(id: string, request: EngineGenerateRequest, onProgress?: ProgressCallback): Promise<EngineGenerateResult>;
  /** Decodes given latents with the package's VAE (whole or tiled); queued like `generate`, cancelled by id too. */
  decodeLatents(id: string, request: EngineDecodeRequest, onProgress?: ProgressCallback): Promise<EngineDecodeResult>;
  /** Cancels a queued or running generation, decode or load; it rejects with AbortedError. Unknown ids are ignored. */
  cancel(id: string): void;
  /**
   * How `prompt` fits the package's text encoders (needs only its manifest and tokenizer
   * files; runs beside a generation, not queued behind it). "" counts the special tokens.
   */
  countTokens(model: string, prompt: string): Promise<TokenCount>;
  listModels(): Promise<StoredModel[]>;
  /** Removes a package from storage (and unloads it when loaded). */
  deleteModel(url: string): Promise<void>;
  /** Releases sessions and the GPU device. */
  dispose(): Promise<void>;
}

/** An error as it crosses the boundary: class name, message and its own plain fields. */
export interface WireError {
  name: string;
  message: string;
  fields: Record<string, unknown>;
}

/** Turns any thrown value into a structured-cloneable `WireError` (its message without library-internal file names). */
export function toWireError(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: 'Error', message: withoutInternalFileNames(String(error)), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key === 'name' || key === 'message' || key === 'stack') continue;
    fields[key] = cloneable(value) ? value : String(value);
  }
  return { name: error.name, message: withoutInternalFileNames(error.message), fields };
}

function cloneable(value: unknown): boolean {
  if (value === null || ['string', 'number', 'boolean', 'undefined', 'bigint'].includes(typeof value)) return true;
  if (Array.isArray(value)) return value.every(cloneable);
  return false;
}

/** Whether a value is a `WireError` (or Comlink's `{name, message}` Error stand-in). */
export function isWireError(value: unknown): value is WireError {
  return typeof value === 'object' && value !== null && typeof (value as WireError).name === 'string' && typeof (value as WireError).message === 'string';
}

/** Rebuilds the error's own class (see `rebuildError`) and restores its fields. */
export function fromWireError(wire: WireError): Error {
  const error = rebuildError(wire);
  Object.assign(error, wire.fields ?? {});
  return error;
}
