/**
 * The packages the kit converts and the variants it times. A package is one converter run
 * (weights + graph options); a variant is a package opened with particular session
 * options. Every variant names the base package whose CPU-EP output is its reference.
 */
import type { GraphOptions } from '../../src/convert/convert.ts';
import type { WeightPrecision } from '../../src/package/manifest.ts';
import type { ShardKind } from './kit-model.ts';

/** One converter run. */
export interface KitPackage {
  name: string;
  weights: WeightPrecision;
  graph: GraphOptions;
  /** The shards it needs (the others are not built). */
  shards: ShardKind[];
}

const ALL: ShardKind[] = ['embed', 'double', 'single', 'head', 'vae', 't5-embed', 't5-layer'];
const BLOCKS: ShardKind[] = ['double', 'single'];

export const PACKAGES: KitPackage[] = [
  { name: 'fp32', weights: 'fp32', graph: {}, shards: ALL },
  { name: 'q4', weights: 'q4', graph: {}, shards: ALL },
  { name: 'q4-acc4', weights: 'q4', graph: { accuracyLevel: 4 }, shards: [...BLOCKS, 't5-layer'] },
  { name: 'q4f16', weights: 'q4', graph: { computePrecision: 'fp16' }, shards: BLOCKS },
  { name: 'q4-explicit-attn', weights: 'q4', graph: { attention: 'explicit' }, shards: BLOCKS },
];

/** Session options a variant adds (WebGPU EP only). */
export interface VariantSession {
  preferredLayout?: 'NCHW' | 'NHWC';
  /** onnxruntime's WebGPU graph capture (needs static shapes and all inputs and outputs on the GPU). */
  graphCapture?: boolean;
}

/** One timed configuration. */
export interface KitVariant {
  name: string;
  package: string;
  /** Base package (fp32 or q4) whose CPU-EP output at the check size is the reference. */
  reference: 'fp32' | 'q4';
  shards: ShardKind[];
  session: VariantSession;
  /** Needs the adapter's shader-f16. */
  needsF16?: boolean;
  /** Runs on the WebGPU EP only (the option means nothing to the CPU EP). */
  webgpuOnly?: boolean;
  /** What the variant is the alternative to (for the recommendations), and which choice it is. */
  alternativeTo?: { variant: string; choice: string };
}

// In the order they are timed: the default first, then its alternatives, fp32 last (the
// time budget cuts from the end).
export const VARIANTS: KitVariant[] = [
  { name: 'q4', package: 'q4', reference: 'q4', shards: ALL, session: {} },
  { name: 'q4-acc4', package: 'q4-acc4', reference: 'q4', shards: [...BLOCKS, 't5-layer'], session: {}, alternativeTo: { variant: 'q4', choice: 'MatMulNBits accuracy_level 4 (int8 activations)' } },
  { name: 'q4f16', package: 'q4f16', reference: 'q4', shards: BLOCKS, session: {}, needsF16: true, alternativeTo: { variant: 'q4', choice: 'fp16 activations in the transformer blocks (q4f16)' } },
  { name: 'q4-explicit-attn', package: 'q4-explicit-attn', reference: 'q4', shards: BLOCKS, session: {}, alternativeTo: { variant: 'q4', choice: 'explicit attention (flash attention off)' } },
  { name: 'q4-vae-nchw', package: 'q4', reference: 'q4', shards: ['vae'], session: { preferredLayout: 'NCHW' }, webgpuOnly: true, alternativeTo: { variant: 'q4', choice: 'VAE convolutions in NCHW (default NHWC)' } },
  { name: 'q4-graph-capture', package: 'q4', reference: 'q4', shards: BLOCKS, session: { graphCapture: true }, webgpuOnly: true, alternativeTo: { variant: 'q4', choice: 'WebGPU graph capture' } },
  { name: 'fp32', package: 'fp32', reference: 'fp32', shards: ALL, session: {} },
];

/** The package of a variant. */
export function packageOf(variant: KitVariant): KitPackage {
  const found = PACKAGES.find((p) => p.name === variant.package);
  if (!found) throw new Error(`gpu-kit: variant ${variant.name} names unknown package ${variant.package}`);
  return found;
}
