/**
 * Memory plans: how much GPU memory a request needs under each way of running the
 * package, and which plan to run on a device that can give a measured number of bytes.
 *
 * - `resident`: every session alive between requests (fastest repeat generations);
 * - `staged`: text encoders, then the transformer (all steps of all images), then the
 *   VAE (one image at a time), each stage's sessions released before the next loads;
 * - `streaming`: one graph at a time (block shards loaded, run and released at every
 *   step); the slowest, for the smallest GPUs.
 *
 * The GPU bytes of a graph are its uploaded weights (from the manifest) plus the peak of
 * the activation buffers onnxruntime's WebGPU EP allocates while running it at the
 * requested size (`graphActivationBytes`, the one place these estimates live). Pure
 * functions: no onnxruntime, no DOM.
 */
import { DEFAULTS } from '../defaults.ts';
import { InvalidParameterError } from '../errors.ts';
import type { GraphEntry, GraphRole, Manifest } from '../package/manifest.ts';
import { formatBytes } from '../format-bytes.ts';
import { chooseVaeTile, vaeActivationBytes, VAE_SCALE, type VaeShapeConfig, type VaeTileLimits } from '../pipeline/vae-tiling.ts';

/** How the engine keeps sessions on the GPU during a request. */
export type MemoryPlan = 'resident' | 'staged' | 'streaming';
/** The `memory` option: a plan, or 'auto' (the fastest plan that fits). */
export type MemoryOption = 'auto' | MemoryPlan;

/** The plans from fastest (most memory) to slowest (least). */
export const MEMORY_PLANS: readonly MemoryPlan[] = ['resident', 'staged', 'streaming'];
/** Every accepted value of the `memory` option. */
export const MEMORY_OPTIONS: readonly MemoryOption[] = ['auto', ...MEMORY_PLANS];

/**
 * Checks a `memory` option.
 * @throws InvalidParameterError naming `field`
 */
export function checkMemoryOption(value: unknown, field = 'memory'): MemoryOption {
  if (value === undefined) return DEFAULTS.memory;
  if (!MEMORY_OPTIONS.includes(value as MemoryOption)) throw new InvalidParameterError(field, `one of ${MEMORY_OPTIONS.join(', ')}`, value, typeof value === 'string' ? 'not-one-of' : 'wrong-type');
  return value as MemoryOption;
}

/** The stages of a request, in order. */
export type MemoryStage = 'text' | 'transformer' | 'vae';

const STAGE_OF: Record<GraphRole, MemoryStage> = {
  'text-encoder-clip': 'text',
  'text-encoder-t5-embed': 'text',
  'text-encoder-t5-blocks': 'text',
  'transformer-embed': 'transformer',
  'transformer-blocks': 'transformer',
  'transformer-head': 'transformer',
  'vae-decoder': 'vae',
  'vae-encoder': 'vae',
};

/** The stage a graph belongs to. */
export function stageOf(graph: GraphEntry): MemoryStage {
  return STAGE_OF[graph.role];
}

/**
 * Calibration of the activation estimates, in float32 tensors of one token's width per
 * token (transformer, text encoders) or in largest feature maps (VAE). Measured with the
 * counting device wrapper (gpu-memory-counter.ts) on onnxruntime-web 1.30's WebGPU EP,
 * one session per graph, on two widths (inner dim 32 and 128: the peaks scale exactly
 * with the width) and 272–1280 tokens (`npm run bench -- --only browser` compares every
 * plan's prediction with its counted peak on the demo package): its MultiHeadAttention
 * never materialises the [heads, L, L] scores, freed buffers wait for the next flush and
 * are then kept in size buckets, so a graph's peak holds many more tensors than its data
 * flow needs at once; it does not grow with the blocks per shard. Each constant is the
 * upper envelope of the measurements (at most ~60% above any of them, usually 5–25%).
 */
export const ACTIVATION_CALIBRATION = {
  /** Transformer embedder: tensors of [text + image tokens, inner_dim]. */
  transformerEmbed: 5,
  /** A shard of double blocks: tensors of [text + image tokens + extraTokens, inner_dim]. */
  transformerDouble: { tensors: 24, extraTokens: 48 },
  /** A shard of single blocks: as for double blocks. */
  transformerSingle: { tensors: 28, extraTokens: 72 },
  /** Output head: tensors of [image tokens, max(inner_dim, out_channels)]. */
  transformerHead: 5,
  /** VAE decoder: its largest feature map (channels × 8h × 8w float32) times this (measured 5.75–5.96). */
  vaeFeatureMaps: 6,
  /** T5 encoder blocks: tensors of [sequence, max(d_model, d_ff)], plus its position bias [heads, S, S] once. */
  t5Blocks: 17,
  /** CLIP text model: tensors of [sequence, max(hidden, intermediate)]. */
  clip: 10,
  /** Small buffers every graph run allocates (uniforms, shapes, bucket minimums), bytes. */
  perGraphBytes: 64 * 1024,
  /**
   * Graphs alive together share onnxruntime's buffer cache: their activations add up as
   * the largest one plus this share of the others (measured 0.4–0.5 on the demo package).
   */
  sharedCacheShare: 0.5,
  /** The same for whole stages kept together (resident): measured 0.32 on the demo package. */
  sharedCacheShareAcrossStages: 0.35,
} as const;

/** Activation bytes of graphs (or stages) alive together: the largest plus `share` of the rest. */
function together(activations: Iterable<number>, share: number = ACTIVATION_CALIBRATION.sharedCacheShare): number {
  const all = [...activations];
  if (all.length === 0) return 0;
  const largest = Math.max(...all);
  return largest + share * (all.reduce((a, b) => a + b, 0) - largest);
}

interface TransformerShape {
  inner: number;
  inChannels: number;
  textTokens: number;
}

function transformerShape(manifest: Manifest): TransformerShape {
  const c = manifest.configs.transformer as { num_attention_heads: number; attention_head_dim: number; in_channels: number };
  return { inner: c.num_attention_heads * c.attention_head_dim, inChannels: c.in_channels, textTokens: manifest.tokenizers?.t5.maxLength ?? 256 };
}

/** Image tokens of the transformer for a size in pixels: (H/16)·(W/16). */
export function imageTokens(width: number, height: number): number {
  return Math.floor(height / 16) * Math.floor(width / 16);
}

/**
 * The largest feature map of the VAE decoder for an image of width×height pixels (or for
 * one tile of `tilePx`, the largest tile of a tiled decode), in bytes (float32): see
 * `vaeActivationBytes` in vae-tiling.ts.
 */
export function vaeLargestFeatureMapBytes(vaeConfig: Record<string, unknown>, width: number, height: number, tilePx: number | null = null): number {
  const tile = tilePx === null ? Infinity : tilePx / VAE_SCALE;
  const h = Math.min(tile, Math.floor(height / VAE_SCALE));
  const w = Math.min(tile, Math.floor(width / VAE_SCALE));
  return vaeActivationBytes(vaeConfig as unknown as VaeShapeConfig, h, w).largestFeatureMapBytes;
}

/**
 * The VAE tile the engine decodes a width×height image with on a GPU of `limits` (null:
 * whole): `chooseVaeTile` on the buffer limit; whole without limits. When not even the
 * smallest tile fits the limit, the smallest tile (the decode then fails on its own).
 */
export function plannedVaeTile(manifest: Manifest, width: number, height: number, limits?: VaeTileLimits): number | null {
  if (!limits || !manifest.configs.vae) return null;
  try {
    return chooseVaeTile(manifest.configs.vae as unknown as VaeShapeConfig, Math.floor(height / VAE_SCALE), Math.floor(width / VAE_SCALE), limits);
  } catch {
    return 32;
  }
}

/**
 * Weight bytes of a graph once uploaded to the GPU: the manifest's `uploadBytes` when the
 * converter wrote it, else its stored bytes scaled by the package's upload/stored ratio
 * (float16 tables are uploaded as float32).
 */
export function graphWeightBytes(manifest: Manifest, graph: GraphEntry): number {
  if (typeof graph.uploadBytes === 'number') return graph.uploadBytes;
  const stored = manifest.graphs.reduce((sum, g) => sum + g.weightBytes, 0);
  const ratio = stored > 0 ? Math.max(1, manifest.requirements.totalWeightBytes / stored) : 1;
  return Math.ceil(graph.weightBytes * ratio);
}

/**
 * Peak bytes of the activation buffers (inputs, intermediates, outputs, and the buffers
 * onnxruntime keeps cached from them) while `graph` runs for a width×height image.
 */
export function graphActivationBytes(manifest: Manifest, graph: GraphEntry, width: number, height: number, vaeTilePx: number | null = null): number {
  const k = ACTIVATION_CALIBRATION;
  const f32 = 4;
  let bytes: number;
  switch (graph.role) {
    case 'transformer-embed': {
      const t = transformerShape(manifest);
      bytes = k.transformerEmbed * (imageTokens(width, height) + t.textTokens) * t.inner * f32;
      break;
    }
    case 'transformer-blocks': {
      const t = transformerShape(manifest);
      const shard = graph.blocks && graph.blocks.double[1] > graph.blocks.double[0] ? k.transformerDouble : k.transformerSingle;
      bytes = shard.tensors * (imageTokens(width, height) + t.textTokens + shard.extraTokens) * t.inner * f32;
      break;
    }
    case 'transformer-head': {
      const t = transformerShape(manifest);
      bytes = k.transformerHead * imageTokens(width, height) * Math.max(t.inner, t.inChannels) * f32;
      break;
    }
    case 'vae-decoder':
      bytes = k.vaeFeatureMaps * vaeLargestFeatureMapBytes(manifest.configs.vae, width, height, vaeTilePx);
      break;
    default:
      bytes = textEncoderActivationBytes(manifest, graph);
  }
  return Math.ceil(bytes) + k.perGraphBytes;
}

/** Text encoders do not depend on the image size: [sequence, width] tensors and T5's attention bias. */
function textEncoderActivationBytes(manifest: Manifest, graph: GraphEntry): number {
  const k = ACTIVATION_CALIBRATION;
  if (graph.role === 'text-encoder-clip') {
    const c = (manifest.configs.text_encoder ?? {}) as { hidden_size?: number; intermediate_size?: number; num_attention_heads?: number; max_position_embeddings?: number };
    const seq = c.max_position_embeddings ?? 77;
    return k.clip * seq * Math.max(c.hidden_size ?? 768, c.intermediate_size ?? 3072) * 4;
  }
  const c = (manifest.configs.text_encoder_2 ?? {}) as { d_model?: number; d_ff?: number; num_heads?: number };
  const seq = manifest.tokenizers?.t5.maxLength ?? 256;
  if (graph.role === 'text-encoder-t5-embed') return 4 * seq * (c.d_model ?? 4096) * 4;
  const bias = (c.num_heads ?? 64) * seq * seq * 4;
  return k.t5Blocks * seq * Math.max(c.d_model ?? 4096, c.d_ff ?? 10240) * 4 + bias;
}

/** What one plan needs at one size. */
export interface PlanNeed {
  plan: MemoryPlan;
  /** Peak GPU bytes predicted for a request under this plan. */
  neededBytes: number;
  /** Of which: weights alive at the peak. */
  weightBytes: number;
  /** Of which: activations at the peak. */
  activationBytes: number;
  /** The stage where the peak happens. */
  peakStage: MemoryStage;
}

/** Per-plan needs of one package at one size. */
export interface MemoryBudget {
  width: number;
  height: number;
  plans: Record<MemoryPlan, PlanNeed>;
  /** GPU bytes of each stage's weights (all its graphs). */
  stageWeightBytes: Record<MemoryStage, number>;
  /** The VAE tile the prediction assumes (and the engine then decodes with), or null: whole. */
  vaeTilePx: number | null;
}

/**
 * Predicts the peak GPU bytes of a request under each plan.
 *
 * - a stage whose graphs are all alive at once (resident, staged) holds their weights and
 *   its graphs' activations `together` (onnxruntime keeps freed buffers cached by size, so
 *   one graph's cache is still there, and partly reused, when the next one runs);
 * - resident holds every stage's weights, and the stages' activations together;
 * - streaming holds one graph at a time: its weights and activations.
 *
 * With `vaeLimits` (the GPU's buffer limit) the VAE is counted as the engine decodes it
 * there: whole where it fits, else in the tiles `chooseVaeTile` picks; without, whole.
 * `vaeTile` (pixels) asks for tiles of at most that size (see `planWithVaeTiles`).
 */
export function memoryBudget(manifest: Manifest, width: number, height: number, vaeLimits?: VaeTileLimits, vaeTile?: number): MemoryBudget {
  const limited = plannedVaeTile(manifest, width, height, vaeLimits);
  const vaeTilePx = vaeTile === undefined ? limited : Math.min(vaeTile, limited ?? Infinity);
  const stages: Record<MemoryStage, { weights: number; activations: Map<string, number>; largestSingle: number; largestSingleWeights: number; largestSingleActs: number }> = {
    text: { weights: 0, activations: new Map(), largestSingle: 0, largestSingleWeights: 0, largestSingleActs: 0 },
    transformer: { weights: 0, activations: new Map(), largestSingle: 0, largestSingleWeights: 0, largestSingleActs: 0 },
    vae: { weights: 0, activations: new Map(), largestSingle: 0, largestSingleWeights: 0, largestSingleActs: 0 },
  };
  for (const graph of manifest.graphs) {
    const stage = stages[stageOf(graph)];
    const weights = graphWeightBytes(manifest, graph);
    const activations = graphActivationBytes(manifest, graph, width, height, vaeTilePx);
    stage.weights += weights;
    // Shards of one kind have the same shapes, so they share cached buffers.
    const kind = graph.role === 'transformer-blocks' ? `blocks-${graph.blocks && graph.blocks.double[1] > graph.blocks.double[0] ? 'double' : 'single'}` : graph.role;
    stage.activations.set(kind, Math.max(stage.activations.get(kind) ?? 0, activations));
    if (weights + activations > stage.largestSingle) {
      stage.largestSingle = weights + activations;
      stage.largestSingleWeights = weights;
      stage.largestSingleActs = activations;
    }
  }
  const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);
  const order: MemoryStage[] = ['text', 'transformer', 'vae'];
  const present = order.filter((s) => stages[s].weights > 0);
  const stageActivations = (s: MemoryStage) => Math.ceil(together(stages[s].activations.values()));
  const peakStage = present.reduce((a, b) => (stageActivations(b) > stageActivations(a) ? b : a));

  const resident: PlanNeed = {
    plan: 'resident',
    weightBytes: sum(present.map((s) => stages[s].weights)),
    activationBytes: Math.ceil(together(present.map(stageActivations), ACTIVATION_CALIBRATION.sharedCacheShareAcrossStages)),
    neededBytes: 0,
    peakStage,
  };
  resident.neededBytes = resident.weightBytes + resident.activationBytes;

  const peakOf = (plan: MemoryPlan, pick: (s: MemoryStage) => { weights: number; activations: number }): PlanNeed => {
    let best: PlanNeed = { plan, neededBytes: 0, weightBytes: 0, activationBytes: 0, peakStage: 'transformer' };
    for (const s of present) {
      const { weights, activations } = pick(s);
      if (weights + activations > best.neededBytes) best = { plan, neededBytes: weights + activations, weightBytes: weights, activationBytes: activations, peakStage: s };
    }
    return best;
  };
  return {
    width,
    height,
    plans: {
      resident,
      staged: peakOf('staged', (s) => ({ weights: stages[s].weights, activations: stageActivations(s) })),
      streaming: peakOf('streaming', (s) => ({ weights: stages[s].largestSingleWeights, activations: stages[s].largestSingleActs })),
    },
    stageWeightBytes: { text: stages.text.weights, transformer: stages.transformer.weights, vae: stages.vae.weights },
    vaeTilePx,
  };
}

/** What the device can give, as measured by the allocation probe. */
export interface AvailableMemory {
  /** Bytes the device gave (weights already loaded by this engine included). */
  bytes: number;
  /** True when the probe stopped at the largest need rather than at a failure: the device may give more. */
  atLeast: boolean;
}

/** The plan chosen for a request, and why. */
export interface PlanChoice {
  /** The plan to run, or null when none fits (then `reason` says by how much). */
  plan: MemoryPlan | null;
  /** e.g. "staged: 9.6 GiB needed, 11.2 GiB available". */
  reason: string;
  /** The chosen plan's need (the lightest plan's when none fits). */
  neededBytes: number;
  availableBytes: number;
  /** Whether the caller forced the plan (`memory` other than 'auto'). */
  forced: boolean;
}

function describeAvailable(available: AvailableMemory): string {
  return `${available.atLeast ? 'at least ' : ''}${formatBytes(available.bytes)} available`;
}

/**
 * Picks the plan: the forced one, or (auto) the fastest whose need fits the available bytes.
 * A forced plan runs even when the prediction says it will not fit (the reason says so;
 * an out-of-memory error then falls back to a lighter plan).
 */
export function choosePlan(budget: MemoryBudget, available: AvailableMemory, option: MemoryOption = 'auto'): PlanChoice {
  const needs = budget.plans;
  const line = (plan: MemoryPlan) => `${plan}: ${formatBytes(needs[plan].neededBytes)} needed, ${describeAvailable(available)}`;
  if (option !== 'auto') {
    const fits = needs[option].neededBytes <= available.bytes;
    return {
      plan: option,
      reason: `${line(option)} (chosen by the memory option${fits ? '' : '; the prediction says it does not fit'})`,
      neededBytes: needs[option].neededBytes,
      availableBytes: available.bytes,
      forced: true,
    };
  }
  for (const plan of MEMORY_PLANS) {
    if (needs[plan].neededBytes <= available.bytes) {
      const faster = MEMORY_PLANS.slice(0, MEMORY_PLANS.indexOf(plan));
      const why = faster.length ? ` (${faster.map((p) => `${p} needs ${formatBytes(needs[p].neededBytes)}`).join(', ')})` : '';
      return { plan, reason: `${line(plan)}${why}`, neededBytes: needs[plan].neededBytes, availableBytes: available.bytes, forced: false };
    }
  }
  const lightest = needs.streaming;
  return {
    plan: null,
    reason: `no memory plan fits: even streaming needs ${formatBytes(lightest.neededBytes)} of GPU memory at ${budget.width}×${budget.height}, and the GPU gave ${formatBytes(available.bytes)}`,
    neededBytes: lightest.neededBytes,
    availableBytes: available.bytes,
    forced: false,
  };
}

/** The plan to fall back to after `plan` ran out of memory, or null when none is lighter. */
export function lighterPlan(plan: MemoryPlan): MemoryPlan | null {
  return MEMORY_PLANS[MEMORY_PLANS.indexOf(plan) + 1] ?? null;
}

/** VAE tiles (pixels) the plan choice may use to make a faster plan fit: smaller decodes, less memory. */
export const VAE_TILE_CANDIDATES: readonly number[] = [1024, 512, 256];

/**
 * The per-plan needs and the plan to run, with the VAE tile chosen from the limits and the
 * budget: whole (or as the buffer limit allows) unless tiles of 1024, 512 or 256 pixels
 * (smaller than the image) let a faster plan fit, or let a forced plan fit; among equal
 * plans the largest tile (fewest tiles, least overlap work).
 */
export function planWithVaeTiles(
  manifest: Manifest,
  width: number,
  height: number,
  vaeLimits: VaeTileLimits | undefined,
  available: AvailableMemory,
  option: MemoryOption = 'auto',
): { budget: MemoryBudget; choice: PlanChoice } {
  const rank = (choice: PlanChoice) => (choice.plan === null ? Infinity : 2 * MEMORY_PLANS.indexOf(choice.plan) + (choice.neededBytes <= choice.availableBytes ? 0 : 1));
  const first = memoryBudget(manifest, width, height, vaeLimits);
  let best = { budget: first, choice: choosePlan(first, available, option) };
  for (const tile of VAE_TILE_CANDIDATES) {
    if (rank(best.choice) === 0 || tile >= Math.max(width, height) || (best.budget.vaeTilePx !== null && tile >= best.budget.vaeTilePx)) continue;
    const budget = memoryBudget(manifest, width, height, vaeLimits, tile);
    const choice = choosePlan(budget, available, option);
    if (rank(choice) < rank(best.choice)) best = { budget, choice };
  }
  return best;
}

/** The most bytes any plan needs at this size: the probe never tries more. */
export function largestWorkingSet(budget: MemoryBudget): number {
  return Math.max(...MEMORY_PLANS.map((p) => budget.plans[p].neededBytes));
}

/**
 * Bytes the VAE decode may use for its activations under `plan` on a device that gives
 * `availableBytes`: what is left after the weights alive during the decode (every
 * stage's under resident, the VAE's alone otherwise). For the tile-size choice.
 */
export function decodeBudgetBytes(budget: MemoryBudget, plan: MemoryPlan, availableBytes: number): number {
  const w = budget.stageWeightBytes;
  const alive = plan === 'resident' ? w.text + w.transformer + w.vae : w.vae;
  return Math.max(0, availableBytes - alive - ACTIVATION_CALIBRATION.perGraphBytes);
}
