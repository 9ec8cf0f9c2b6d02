/**
 * The checkpoint's components (transformer, VAE, CLIP, T5), each prepared before any
 * output is written: its config validated, its tensors opened (headers only: the
 * diffusers folder's safetensors, or an override file such as a BFL single file or a
 * GGUF), every tensor name/shape/dtype checked, and its graphs planned as jobs.
 */
import { CheckpointError } from '../errors.ts';
import type { GraphEntry, GraphRole, WeightPrecision } from '../package/manifest.ts';
import { buildClipTextEncoder, expectedClipTensors, isIgnoredClipTensor, validateClipConfig } from './clip-graph.ts';
import { exactBlockBits, isReadableGgmlType } from './ggml-blocks.ts';
import type { LayerContext, WeightSource } from './layers.ts';
import { joinPath, readCheckpointJson, type CheckpointFiles } from './checkpoint-files.ts';
import { openSafetensorsCheckpoint } from './safetensors-source.ts';
import { blockStoredBytes } from './storage.ts';
import type { TensorSource } from './tensor-source.ts';
import { buildT5Blocks, buildT5Embed, expectedT5Tensors, isIgnoredT5Tensor, planT5Shards, t5EmbeddingName, validateT5Config, type T5Config } from './t5-graph.ts';
import { buildBlocks, buildEmbed, buildHead, expectedTransformerTensors, planBlockShards, validateTransformerConfig, type TransformerConfig } from './transformer-graphs.ts';
import { buildVaeDecoder, expectedVaeDecoderTensors, isIgnoredVaeTensor, validateVaeConfig, type VaeConfig } from './vae-graph.ts';

/** One graph to build. */
export interface GraphJob {
  name: string;
  role: GraphRole;
  weights: WeightSource;
  build(ctx: LayerContext): Promise<void>;
  /** Extra manifest fields (block or layer ranges). */
  extra?: Partial<GraphEntry>;
}

/** A validated, opened component. */
export interface PreparedComponent<C> {
  config: C;
  jobs: GraphJob[];
  /** What a person should know about its source (storage types, requantized tensors). */
  notes: string[];
  /** Where its tensors come from (headers read, no data yet), for the conversion plan. */
  source: TensorSource;
  /** The tensors its graphs read, by the builders' names, with their shapes. */
  expected: Map<string, number[]>;
  close(): Promise<void>;
}

/**
 * Where a component's tensors come from instead of its diffusers folder: one file (a BFL
 * single file, a GGUF, …), opened under the builders' names once the config is known.
 */
export interface TensorOverride<C> {
  /** The file, for messages. */
  label: string;
  open(config: C): Promise<TensorSource>;
}

/** A checkpoint as a WeightSource that checks each tensor's shape when it is read. */
function weightSource(checkpoint: TensorSource, dir: string): WeightSource {
  const check = (name: string, shape: number[]) => {
    if (!checkpoint.has(name)) throw new CheckpointError(`${dir}: tensor ${name} is missing`, dir, name);
    const info = checkpoint.info(name);
    if (info.shape.join(',') !== shape.join(',')) {
      throw new CheckpointError(`${info.file}: tensor ${name} has shape [${info.shape}], expected [${shape}]`, info.file, name);
    }
    return info;
  };
  return {
    async read(name, shape) {
      check(name, shape);
      return checkpoint.readFloat32(name);
    },
    async blocks(name, shape) {
      const { dtype } = check(name, shape);
      if (dtype !== 'Q4_0' && dtype !== 'Q8_0') return undefined;
      return { type: dtype, raw: await checkpoint.readRaw(name) };
    },
  };
}

/** `plan()`, closing `checkpoint` when it throws (a shard limit too small for one block). */
async function orClose<T>(checkpoint: TensorSource, plan: () => T): Promise<T> {
  try {
    return plan();
  } catch (error) {
    await checkpoint.close();
    throw error;
  }
}

/** The bits of a tensor's exact MatMulNBits-ready blocks (GGUF Q4_0 / Q8_0), if any. */
export function sourceBlockBits(checkpoint: TensorSource): (name: string) => 4 | 8 | undefined {
  return (name) => (checkpoint.has(name) ? exactBlockBits(checkpoint.info(name).dtype) : undefined);
}

/**
 * Notes on how the source stores the expected tensors: a count per storage type, and a
 * warning naming the quantized types that are dequantized (and, for linears at q4/q8,
 * requantized): only Q4_0 and Q8_0 map onto MatMulNBits exactly.
 */
function storageNotes(checkpoint: TensorSource, expected: Map<string, number[]>, label: string, precision: WeightPrecision): string[] {
  const counts = new Map<string, number>();
  for (const name of expected.keys()) counts.set(checkpoint.info(name).dtype, (counts.get(checkpoint.info(name).dtype) ?? 0) + 1);
  const notes = [`${label}: ${[...counts].map(([dtype, n]) => `${n} ${dtype}`).join(', ')} tensors`];
  const quantized = (d: string) => d !== 'F32' && d !== 'F16' && d !== 'BF16';
  const requantized = [...counts.keys()].filter((d) => quantized(d) && (exactBlockBits(d) === undefined || precision === 'fp16' || precision === 'fp32'));
  if (requantized.length) {
    const how = precision === 'fp16' || precision === 'fp32' ? `stored as ${precision} values` : `requantized to ${precision} (not exact: only Q4_0 and Q8_0 map onto MatMulNBits as they are)`;
    notes.push(`warning: ${label}: tensors stored as ${requantized.join(', ')} are dequantized and ${how}`);
  }
  return notes;
}

/**
 * Compares a checkpoint's tensors with the expected names, shapes and float dtypes.
 * @param ignore names that may be present and are not converted (e.g. the VAE encoder)
 */
export function checkTensors(checkpoint: Pick<TensorSource, 'names' | 'has' | 'info'>, dir: string, expected: Map<string, number[]>, ignore: (name: string) => boolean): void {
  for (const [name, shape] of expected) {
    if (!checkpoint.has(name)) throw new CheckpointError(`${dir}: tensor ${name} is missing (expected shape [${shape}])`, dir, name);
    const info = checkpoint.info(name);
    const called = info.sourceName ? `${name} (${info.sourceName} in the file)` : name;
    if (info.shape.join(',') !== shape.join(',')) {
      throw new CheckpointError(`${info.file}: tensor ${called} has shape [${info.shape}], expected [${shape}]`, info.file, name);
    }
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16' && !isReadableGgmlType(info.dtype)) {
      throw new CheckpointError(
        `${info.file}: tensor ${called} has dtype ${info.dtype}; supported are F32, F16, BF16 and the GGUF types Q4_0, Q8_0 (exact), Q4_1, Q5_0, Q5_1, Q2_K–Q6_K (requantized): use a file in one of those`,
        info.file,
        name,
        'unsupported',
      );
    }
  }
  for (const name of checkpoint.names()) {
    if (!expected.has(name) && !ignore(name)) {
      const { file } = checkpoint.info(name);
      throw new CheckpointError(`${file}: unexpected tensor ${name} (not part of a FLUX model with this config)`, file, name);
    }
  }
}

/**
 * Opens folder `dir` of the checkpoint (config + safetensors named `baseName`, or the
 * override's file), validates its config and tensors, and closes the tensors again if
 * anything is wrong.
 */
async function openComponent<C>(
  files: CheckpointFiles,
  dir: string,
  baseName: string,
  validate: (raw: unknown, file: string) => C,
  expected: (config: C, checkpoint: TensorSource) => Map<string, number[]>,
  ignore: (name: string) => boolean,
  precision: WeightPrecision,
  override?: TensorOverride<C>,
): Promise<{ config: C; checkpoint: TensorSource; weights: WeightSource; notes: string[]; expected: Map<string, number[]> }> {
  const configPath = joinPath(dir, 'config.json');
  const config = validate(await readCheckpointJson(files, configPath), files.labelOf(configPath));
  const checkpoint = override ? await override.open(config) : await openSafetensorsCheckpoint(files, dir, baseName);
  const label = override?.label ?? files.labelOf(dir);
  let notes: string[];
  let shapes: Map<string, number[]>;
  try {
    shapes = expected(config, checkpoint);
    checkTensors(checkpoint, label, shapes, ignore);
    notes = storageNotes(checkpoint, shapes, label, precision);
  } catch (error) {
    await checkpoint.close();
    throw error;
  }
  return { config, checkpoint, weights: weightSource(checkpoint, label), notes, expected: shapes };
}

const shardIndex = (i: number) => String(i).padStart(2, '0');

/** transformer/: embed, block shards (by size), head. */
export async function prepareTransformer(
  files: CheckpointFiles,
  dir: string,
  precision: WeightPrecision,
  maxShardBytes: number,
  override?: TensorOverride<TransformerConfig>,
): Promise<PreparedComponent<TransformerConfig>> {
  const { config, checkpoint, weights, notes, expected } = await openComponent(files, dir, 'diffusion_pytorch_model', validateTransformerConfig, (c) => expectedTransformerTensors(c), () => false, precision, override);
  const plans = await orClose(checkpoint, () => planBlockShards(config, precision, maxShardBytes, (tensors) => blockStoredBytes(tensors, precision, sourceBlockBits(checkpoint))));
  const jobs: GraphJob[] = [{ name: 'transformer_embed', role: 'transformer-embed', weights, build: (ctx) => buildEmbed(ctx, config) }];
  for (const [index, plan] of plans.entries()) {
    const kind = plan.double[1] > plan.double[0] ? `double_${plan.double[0]}-${plan.double[1] - 1}` : `single_${plan.single[0]}-${plan.single[1] - 1}`;
    jobs.push({ name: `transformer_blocks_${shardIndex(index)}_${kind}`, role: 'transformer-blocks', weights, build: (ctx) => buildBlocks(ctx, config, plan), extra: { blocks: { double: plan.double, single: plan.single } } });
  }
  jobs.push({ name: 'transformer_head', role: 'transformer-head', weights, build: (ctx) => buildHead(ctx, config) });
  return { config, jobs, notes, source: checkpoint, expected, close: () => checkpoint.close() };
}

/** vae/: the decoder only (encoder and quant_conv tensors are ignored). */
export async function prepareVae(files: CheckpointFiles, dir: string, precision: WeightPrecision, override?: TensorOverride<VaeConfig>): Promise<PreparedComponent<VaeConfig>> {
  const { config, checkpoint, weights, notes, expected } = await openComponent(files, dir, 'diffusion_pytorch_model', validateVaeConfig, (c) => expectedVaeDecoderTensors(c), isIgnoredVaeTensor, precision, override);
  return { config, jobs: [{ name: 'vae_decoder', role: 'vae-decoder', weights, build: (ctx) => buildVaeDecoder(ctx, config) }], notes, source: checkpoint, expected, close: () => checkpoint.close() };
}

/** text_encoder/: the CLIP-L text model, one graph. */
export async function prepareClip(files: CheckpointFiles, dir: string, precision: WeightPrecision) {
  const { config, checkpoint, weights, notes, expected } = await openComponent(files, dir, 'model', validateClipConfig, (c) => expectedClipTensors(c), isIgnoredClipTensor, precision);
  const jobs: GraphJob[] = [{ name: 'text_encoder_clip', role: 'text-encoder-clip', weights, build: (ctx) => buildClipTextEncoder(ctx, config) }];
  return { config, jobs, notes, source: checkpoint, expected, close: () => checkpoint.close() };
}

/**
 * text_encoder_2/: the T5 encoder, an embed shard and layer shards (by size).
 * @param sequenceLength tokens per prompt: 256 for FLUX.1 [schnell], 512 for [dev] (`FAMILY_DEFAULTS`)
 */
export async function prepareT5(files: CheckpointFiles, dir: string, precision: WeightPrecision, maxShardBytes: number, sequenceLength: number, override?: TensorOverride<T5Config>) {
  let embeddingName = '';
  const { config, checkpoint, weights, notes, expected } = await openComponent(files, dir, 'model', validateT5Config, (c, ckpt) => {
    embeddingName = t5EmbeddingName(ckpt.names(), override?.label ?? files.labelOf(dir));
    return expectedT5Tensors(c, embeddingName);
  }, isIgnoredT5Tensor, precision, override);
  const jobs: GraphJob[] = [{ name: 'text_encoder_t5_embed', role: 'text-encoder-t5-embed', weights, build: (ctx) => buildT5Embed(ctx, config, sequenceLength, { embeddingName }) }];
  const plans = await orClose(checkpoint, () => planT5Shards(config, precision, maxShardBytes, (tensors) => blockStoredBytes(tensors, precision, sourceBlockBits(checkpoint))));
  for (const [index, plan] of plans.entries()) {
    jobs.push({
      name: `text_encoder_t5_blocks_${shardIndex(index)}_${plan.blocks[0]}-${plan.blocks[1] - 1}`,
      role: 'text-encoder-t5-blocks',
      weights,
      build: (ctx) => buildT5Blocks(ctx, config, plan, sequenceLength),
      extra: { layers: plan.blocks },
    });
  }
  return { config, jobs, notes, source: checkpoint, expected, close: () => checkpoint.close() };
}
