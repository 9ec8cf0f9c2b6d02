/**
 * Runs one generation request under a memory plan (see memory-plan.ts):
 *
 * - `resident`: every session is created up front and kept;
 * - `staged`: text encoders → all released → transformer for every step of every image →
 *   all released → VAE, one image at a time → all released;
 * - `streaming`: as staged, but only one session is ever alive (each block shard is
 *   loaded, run and released at every step) and tensors pass between graphs on the CPU.
 *
 * Every plan runs the same graphs on the same inputs, so every plan gives the same pixels.
 * Text conditioning comes from the prompt cache when the prompt was encoded before.
 */
import type { GraphEntry, GraphRole, Manifest } from '../package/manifest.ts';
import type { ProgressEvent } from '../progress.ts';
import { decodeImage, denoiseImage, type DenoisedImage, type PipelineIntermediates, type TextConditioning } from '../pipeline/flux-pipeline.ts';
import { droppedTextWarnings, encodePrompt, type PackageTokenizers } from '../pipeline/text-encoding.ts';
import { AbortedError } from '../errors.ts';
import type { GpuMemoryCounter } from './gpu-memory-counter.ts';
import { encodeImage } from './image-encoding.ts';
import type { MemoryPlan } from './memory-plan.ts';
import type { GpuStageMemory } from './protocol.ts';
import type { PromptCache } from './prompt-cache.ts';
import { imageSeed, type ValidRequest } from '../request.ts';
import type { WebModelRuntime } from './web-runtime.ts';

/** What `runPlan` needs. */
export interface PlanRunRequest {
  plan: MemoryPlan;
  packageUrl: string;
  runtime: WebModelRuntime;
  tokenizers?: PackageTokenizers;
  request: ValidRequest;
  signal: AbortSignal;
  progress: (event: ProgressEvent) => void;
  promptCache: PromptCache;
  counter?: GpuMemoryCounter;
  keepIntermediates?: boolean;
  preview?: boolean;
  /** The VAE tile (pixels; null: whole) the plan's prediction assumed (`decodeTileFor`). */
  vaeTilePx?: number | null;
  /** Denoising steps and guidance for the package's family (`resolveForFamily`); default the request's steps, no guidance. */
  steps?: number;
  guidance?: number;
  /** Image-to-image: the largest GPU buffer in bytes (the VAE encoder's tile choice). */
  maxBufferBytes?: number;
}

/** What `runPlan` produced. */
export interface PlanRunResult {
  images: Blob[];
  warnings: string[];
  intermediates?: PipelineIntermediates;
  timings: { loadMs: number; encodeMs: number; denoiseMs: number; decodeMs: number };
  /** Whether the prompt's conditioning came from the cache. */
  promptCached: boolean;
  gpuStages: GpuStageMemory[];
  /** Most GPU bytes alive at once during the request (0 without a counter). */
  gpuPeakBytes: number;
}

/** The graphs in the order the pipeline first uses them (text encoders, transformer, VAE). */
export function loadOrder(manifest: Manifest): GraphEntry[] {
  const rank: Record<GraphRole, number> = {
    'text-encoder-clip': 0,
    'text-encoder-t5-embed': 1,
    'text-encoder-t5-blocks': 2,
    'transformer-embed': 3,
    'transformer-blocks': 4,
    'transformer-head': 5,
    'vae-decoder': 6,
    'vae-encoder': 7,
  };
  // The VAE encoder is opened on the first image-to-image request, not with the package.
  return manifest.graphs.filter((g) => g.role !== 'vae-encoder').map((g, i) => ({ g, i })).sort((a, b) => rank[a.g.role] - rank[b.g.role] || a.i - b.i).map(({ g }) => g);
}

/**
 * Creates every session of the package (the resident plan), with `load` progress.
 * @throws AbortedError when `signal` aborts (checked between graphs)
 */
export async function loadAllSessions(runtime: WebModelRuntime, progress: (event: ProgressEvent) => void, signal?: AbortSignal): Promise<number> {
  const started = performance.now();
  await runtime.setResidency('all');
  const graphs = loadOrder(runtime.manifest);
  const missing = graphs.filter((g) => !runtime.has(g));
  for (const [index, graph] of missing.entries()) {
    if (signal?.aborted) throw new AbortedError();
    progress({ stage: 'load', graph: graph.name, index: index + 1, count: missing.length });
    await runtime.session(graph);
  }
  return missing.length ? performance.now() - started : 0;
}

/**
 * Runs a validated request under `plan`.
 * @throws AbortedError when the signal aborts; any onnxruntime or GPU error as thrown
 */
export async function runPlan(run: PlanRunRequest): Promise<PlanRunResult> {
  const { plan, runtime, request, signal, progress, counter } = run;
  const releases = plan !== 'resident';
  const gpuStages: GpuStageMemory[] = [];
  let gpuPeakBytes = counter?.snapshot().liveBytes ?? 0;
  const stage = async <T>(name: GpuStageMemory['stage'], body: () => Promise<T>): Promise<T> => {
    counter?.resetPeak();
    const value = await body();
    if (releases && name !== 'load') await runtime.releaseAll();
    if (counter) {
      const { peakBytes, liveBytes } = counter.snapshot();
      gpuStages.push({ stage: name, peakBytes, liveBytes });
      gpuPeakBytes = Math.max(gpuPeakBytes, peakBytes);
    }
    return value;
  };

  let loadMs = 0;
  if (plan === 'resident' && loadOrder(runtime.manifest).some((g) => !runtime.has(g))) loadMs = await stage('load', () => loadAllSessions(runtime, progress, signal));
  else await runtime.setResidency(plan === 'streaming' ? 'one' : 'all');

  // Text conditioning, shared by every image of the request.
  const warnings: string[] = [];
  const encodeStart = performance.now();
  let conditioning: TextConditioning;
  let promptCached = false;
  if (request.promptEmbeddings) {
    conditioning = request.promptEmbeddings;
  } else {
    const cached = run.promptCache.get(run.packageUrl, request.prompt!);
    if (cached) {
      conditioning = cached;
      warnings.push(...cached.warnings);
      promptCached = true;
    } else {
      conditioning = await stage('text', async () => {
        progress({ stage: 'encode' });
        const encoded = await encodePrompt(runtime, run.tokenizers!, request.prompt!, signal);
        const dropped = droppedTextWarnings(encoded, runtime.manifest);
        run.promptCache.set(run.packageUrl, request.prompt!, { promptEmbeds: encoded.promptEmbeds, pooledPromptEmbeds: encoded.pooledPromptEmbeds, warnings: dropped });
        warnings.push(...dropped);
        return encoded;
      });
    }
  }
  const encodeMs = performance.now() - encodeStart;

  const pipelineRequest = (i: number) => ({
    promptEmbeds: conditioning.promptEmbeds,
    pooledPromptEmbeds: conditioning.pooledPromptEmbeds,
    width: request.width,
    height: request.height,
    steps: run.steps ?? request.steps,
    guidance: run.guidance,
    seed: imageSeed(request.seed, i),
    signal,
    onProgress: progress,
    image: i + 1,
    images: request.numImages,
    keepIntermediates: run.keepIntermediates === true && i === 0,
    preview: run.preview === true,
    vaeTiling: run.vaeTilePx === undefined ? undefined : { tilePx: run.vaeTilePx },
    init: request.image && { ...request.image, strength: request.strength!, maxBufferBytes: run.maxBufferBytes },
  });

  // The transformer for every step of every image, then the VAE image by image.
  const denoised: DenoisedImage[] = await stage('transformer', async () => {
    const out: DenoisedImage[] = [];
    for (let i = 0; i < request.numImages; i++) out.push(await denoiseImage(runtime, pipelineRequest(i)));
    return out;
  });
  const images: Blob[] = [];
  let intermediates: PipelineIntermediates | undefined;
  let decodeMs = 0;
  await stage('vae', async () => {
    for (let i = 0; i < request.numImages; i++) {
      const result = await decodeImage(runtime, denoised[i], pipelineRequest(i));
      if (result.intermediates) intermediates = result.intermediates;
      const encodeImageStart = performance.now();
      images.push(await encodeImage(result.image, request.outputFormat, request.quality));
      decodeMs += result.timings.decodeMs + (performance.now() - encodeImageStart);
    }
  });
  const denoiseMs = denoised.reduce((sum, d) => sum + d.denoiseMs, 0);
  return { images, warnings, intermediates, timings: { loadMs, encodeMs, denoiseMs, decodeMs }, promptCached, gpuStages, gpuPeakBytes };
}
