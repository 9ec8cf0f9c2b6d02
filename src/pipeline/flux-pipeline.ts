/**
 * The FLUX.1 pipeline over a package's graphs: noise → pack → denoise (embed → block
 * shards → head, Euler) → unpack → VAE decode → RGB. [schnell] and [dev] differ only in
 * the schedule (the package's scheduler config) and [dev]'s guidance input. Plain
 * TypeScript: the Node CLI and the browser worker run this same code.
 */
import { Tensor } from 'onnxruntime-common';
import { InvalidParameterError, ModelPackageError, throwIfAborted } from '../errors.ts';
import { blockShards, graphByRole, type GraphEntry } from '../package/manifest.ts';
import type { ProgressCallback } from '../progress.ts';
import { vaeOutputToRgb, type RgbImage } from './image.ts';
import { imageIds, LATENT_CHANNELS, latentSize, packLatents, scaleForVae, unpackLatents } from './latents.ts';
import { previewFromPacked } from './preview.ts';
import { TorchCpuGenerator } from './randn.ts';
import { encodeInitImage, type InitImage } from './init-image.ts';
import { jointIds, ropeTables } from './rope.ts';
import type { ModelRuntime } from './runtime.ts';
import { eulerStep, modelTimestep, scheduleSigmas, type FlowSchedulerConfig } from './schedule.ts';
import { decodeLatents } from './vae-decode.ts';
import type { VaeTileLimits } from './vae-tiling.ts';

/** Text conditioning: T5 hidden states and the CLIP pooled vector (float32). */
export interface TextConditioning {
  /** [1, tokens, joint_dim] */
  promptEmbeds: Float32Array;
  /** [1, pooled_dim] */
  pooledPromptEmbeds: Float32Array;
}

/** One image's request (parameters already validated). */
export interface PipelineRequest extends TextConditioning {
  /** Pixels, multiple of 16. */
  width: number;
  height: number;
  /** Denoising steps, ≥ 1. */
  steps: number;
  /**
   * Guidance scale for guidance-distilled packages (FLUX.1 [dev], whose embed graph has a
   * `guidance` input; the model multiplies it by 1000); must be absent for [schnell].
   */
  guidance?: number;
  /** 0–4294967295; the same seed gives the same noise as torch. */
  seed: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Index and count of images in the caller's batch, for progress events. */
  image?: number;
  images?: number;
  /** Attach a cheap RGB preview (latent resolution) to each `denoise` progress event. */
  preview?: boolean;
  /** Keep intermediate tensors (noise, latents, VAE output) in the result. */
  keepIntermediates?: boolean;
  /** Image-to-image: the start picture (RGB at width×height) and the strength (see init-image.ts). */
  init?: InitImage;
  /**
   * VAE tiling: `tilePx` forces a tile (pixels, diffusers' tile_sample_min_size) or, as
   * null, an untiled decode; otherwise the tile is chosen from `limits` (untiled without).
   */
  vaeTiling?: { tilePx?: number | null; limits?: VaeTileLimits };
}

/** Intermediate tensors, named as in the golden files. */
export interface PipelineIntermediates {
  noise: Float32Array;
  packed_noise: Float32Array;
  transformer_out_t1: Float32Array;
  final_packed_latents: Float32Array;
  vae_input: Float32Array;
  vae_out: Float32Array;
  /** Image-to-image only: the encoder's posterior and the image latents. */
  vae_encoder_mean?: Float32Array;
  vae_encoder_logvar?: Float32Array;
  image_latents?: Float32Array;
}

/** Result of one image. */
export interface PipelineResult {
  image: RgbImage;
  /** Milliseconds spent per stage and inside `session.run`. */
  timings: { denoiseMs: number; decodeMs: number; sessionRunMs: number; totalMs: number };
  intermediates?: PipelineIntermediates;
  /** The VAE tile size used (pixels), or null when the image was decoded whole. */
  vaeTilePx: number | null;
}

function dimOf(graph: GraphEntry, input: string, axis: number): number {
  const d = graph.inputs.find((i) => i.name === input)?.dims[axis];
  if (typeof d !== 'number') throw new ModelPackageError(`graph ${graph.name}: input ${input} has no fixed dimension ${axis}`);
  return d;
}

/** Runs one graph (after an abort check), adding its time inside `session.run` to `clock`. */
async function runTimed(runtime: ModelRuntime, graph: GraphEntry, feeds: Record<string, Tensor>, signal: AbortSignal | undefined, clock: { sessionRunMs: number }) {
  throwIfAborted(signal);
  const session = await runtime.session(graph);
  const t0 = performance.now();
  const out = await session.run(feeds);
  clock.sessionRunMs += performance.now() - t0;
  return out;
}

async function tensorData(t: Tensor): Promise<Float32Array> {
  return (await t.getData()) as Float32Array;
}

/** One image's latents after denoising (before the VAE). */
export interface DenoisedImage {
  /** Packed latents [1, (h/2)(w/2), 64] after the last step. */
  latents: Float32Array;
  /** Latent height and width. */
  h: number;
  w: number;
  /** Milliseconds spent denoising and inside `session.run` so far. */
  denoiseMs: number;
  sessionRunMs: number;
  /** performance.now() when the image was started. */
  started: number;
  /** With `keepIntermediates`: the denoising tensors. */
  intermediates?: Pick<PipelineIntermediates, 'noise' | 'packed_noise' | 'transformer_out_t1' | 'vae_encoder_mean' | 'vae_encoder_logvar' | 'image_latents'>;
}

/**
 * Generates one image: `denoiseImage` then `decodeImage`.
 * @throws AbortedError when `signal` aborts (checked between shards and steps)
 */
export async function runFluxPipeline(runtime: ModelRuntime, request: PipelineRequest): Promise<PipelineResult> {
  return decodeImage(runtime, await denoiseImage(runtime, request), request);
}

/**
 * Runs the transformer over one image's noise for every step (no VAE), so that a caller
 * can keep the transformer loaded for several images and decode them afterwards.
 * @throws AbortedError when `signal` aborts (checked between shards and steps)
 */
export async function denoiseImage(runtime: ModelRuntime, request: PipelineRequest): Promise<DenoisedImage> {
  const started = performance.now();
  const { manifest } = runtime;
  const embed = graphByRole(manifest, 'transformer-embed');
  const head = graphByRole(manifest, 'transformer-head');
  const shards = blockShards(manifest);
  const jointDim = dimOf(embed, 'encoder_hidden_states', 2);
  const pooledDim = dimOf(embed, 'pooled_projections', 1);
  const textTokens = request.promptEmbeds.length / jointDim;
  if (!Number.isInteger(textTokens) || textTokens < 1) {
    throw new ModelPackageError(`prompt embeddings hold ${request.promptEmbeds.length} values, not a multiple of the joint dim ${jointDim}`);
  }
  if (request.pooledPromptEmbeds.length !== pooledDim) {
    throw new ModelPackageError(`pooled prompt embeddings hold ${request.pooledPromptEmbeds.length} values; this model takes ${pooledDim}`);
  }
  const transformerConfig = manifest.configs.transformer as { axes_dims_rope: number[]; in_channels: number };
  const { h, w } = latentSize(request.height, request.width);
  const imageTokens = (h / 2) * (w / 2);
  const channels = transformerConfig.in_channels;

  // One torch generator per image: image-to-image draws the posterior's ε first, the noise second.
  const generator = new TorchCpuGenerator(request.seed);
  const init = request.init ? await encodeInitImage(runtime, request.init, generator, { height: request.height, width: request.width, signal: request.signal }) : undefined;
  const noise = generator.randn([1, LATENT_CHANNELS, h, w]);
  const latents = packLatents(noise, LATENT_CHANNELS, h, w);
  const packedNoise = request.keepIntermediates ? latents.slice() : latents;
  const rope = ropeTables(jointIds(textTokens, imageIds(h, w)), transformerConfig.axes_dims_rope);
  const ropeCos = new Tensor('float32', rope.cos, [rope.tokens, rope.half]);
  const ropeSin = new Tensor('float32', rope.sin, [rope.tokens, rope.half]);
  const context = new Tensor('float32', request.promptEmbeds, [1, textTokens, jointDim]);
  const pooled = new Tensor('float32', request.pooledPromptEmbeds, [1, pooledDim]);
  const schedule = scheduleSigmas(request.steps, manifest.configs.scheduler as FlowSchedulerConfig | undefined, imageTokens);
  // Image-to-image runs the schedule's tail under diffusers' strength rule, from σ₀·noise + (1 − σ₀)·image latents.
  const sigmas = init ? init.sigmasFrom(schedule) : schedule;
  const steps = sigmas.length - 1;
  if (init) latents.set(packLatents(init.startLatents(noise, sigmas[0]), LATENT_CHANNELS, h, w));
  const takesGuidance = embed.inputs.some((i) => i.name === 'guidance');
  if (takesGuidance !== (request.guidance !== undefined)) {
    throw new InvalidParameterError(
      'guidance',
      takesGuidance ? `a number for ${manifest.modelId} (it is guidance-distilled)` : `absent for ${manifest.modelId} (it has no guidance input)`,
      request.guidance,
    );
  }
  const guidanceFeed: Record<string, Tensor> = takesGuidance ? { guidance: new Tensor('float32', new Float32Array([request.guidance!]), [1]) } : {};

  const clock = { sessionRunMs: 0 };
  const run = (graph: GraphEntry, feeds: Record<string, Tensor>) => runTimed(runtime, graph, feeds, request.signal, clock);

  let firstVelocity: Float32Array | undefined;
  const denoiseStart = performance.now();
  for (let step = 0; step < steps; step++) {
    throwIfAborted(request.signal);
    const embedded = await run(embed, {
      hidden_states: new Tensor('float32', latents, [1, imageTokens, channels]),
      encoder_hidden_states: context,
      pooled_projections: pooled,
      timestep: new Tensor('float32', new Float32Array([modelTimestep(sigmas[step])]), [1]),
      ...guidanceFeed,
    });
    let img = embedded.img;
    let txt = embedded.txt;
    const temb = embedded.temb;
    for (const shard of shards) {
      const out = await run(shard, { img, txt, temb, rope_cos: ropeCos, rope_sin: ropeSin });
      img.dispose();
      txt.dispose();
      img = out.img_out;
      txt = out.txt_out;
      await runtime.finished?.(shard);
    }
    const { noise_pred: velocityTensor } = await run(head, { img, temb });
    const velocity = await tensorData(velocityTensor);
    if (step === 0 && request.keepIntermediates) firstVelocity = velocity.slice();
    for (const t of [img, txt, temb, velocityTensor]) t.dispose();
    const preview = request.preview ? previewFromPacked(latents, velocity, sigmas[step], h, w) : undefined;
    eulerStep(latents, velocity, sigmas[step], sigmas[step + 1]);
    request.onProgress?.({ stage: 'denoise', step: step + 1, steps, image: request.image ?? 1, images: request.images ?? 1, preview });
  }
  await runtime.finished?.(embed);
  await runtime.finished?.(head);
  const denoiseMs = performance.now() - denoiseStart;
  return {
    latents,
    h,
    w,
    denoiseMs,
    sessionRunMs: clock.sessionRunMs,
    started,
    intermediates: request.keepIntermediates ? { noise, packed_noise: packedNoise, transformer_out_t1: firstVelocity!, ...init?.intermediates } : undefined,
  };
}

/**
 * Decodes denoised latents with the VAE into the image.
 * @throws AbortedError when `signal` aborts
 */
export async function decodeImage(runtime: ModelRuntime, denoised: DenoisedImage, request: PipelineRequest): Promise<PipelineResult> {
  const { latents, h, w, denoiseMs, started } = denoised;
  const vaeConfig = runtime.manifest.configs.vae as { scaling_factor: number; shift_factor: number };
  const clock = { sessionRunMs: denoised.sessionRunMs };

  throwIfAborted(request.signal);
  request.onProgress?.({ stage: 'decode', image: request.image ?? 1, images: request.images ?? 1 });
  const decodeStart = performance.now();
  const vaeInput = scaleForVae(unpackLatents(latents, LATENT_CHANNELS, h, w), vaeConfig.scaling_factor, vaeConfig.shift_factor);
  const decoded = await decodeLatents(runtime, { latents: vaeInput, latentHeight: h, latentWidth: w, ...request.vaeTiling, signal: request.signal });
  clock.sessionRunMs += decoded.sessionRunMs;
  const { data: vaeOut, height: outHeight, width: outWidth } = decoded.output;
  const image = vaeOutputToRgb(vaeOut, outHeight, outWidth);
  const decodeMs = performance.now() - decodeStart;

  return {
    image,
    timings: { denoiseMs, decodeMs, sessionRunMs: clock.sessionRunMs, totalMs: performance.now() - started },
    vaeTilePx: decoded.tilePx,
    intermediates: denoised.intermediates ? { ...denoised.intermediates, final_packed_latents: latents, vae_input: vaeInput, vae_out: vaeOut } : undefined,
  };
}
