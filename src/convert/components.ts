/**
 * The checkpoint's components (transformer, VAE, CLIP, T5), each prepared before any
 * output is written: its config validated, its safetensors opened (headers only), every
 * tensor name/shape/dtype checked, and its graphs planned as jobs for the converter.
 */
import { CheckpointError } from '../errors.ts';
import type { GraphEntry, GraphRole, WeightPrecision } from '../package/manifest.ts';
import { buildClipTextEncoder, expectedClipTensors, isIgnoredClipTensor, validateClipConfig } from './clip-graph.ts';
import type { LayerContext, WeightSource } from './layers.ts';
import { joinPath, readCheckpointJson, type CheckpointFiles } from './checkpoint-files.ts';
import { openSafetensorsCheckpoint } from './safetensors-source.ts';
import type { TensorSource } from './tensor-source.ts';
import { buildT5Blocks, buildT5Embed, expectedT5Tensors, isIgnoredT5Tensor, planT5Shards, t5EmbeddingName, validateT5Config } from './t5-graph.ts';
import { buildBlocks, buildEmbed, buildHead, expectedTransformerTensors, planBlockShards, validateTransformerConfig, type TransformerConfig } from './transformer-graphs.ts';
import { buildVaeDecoder, expectedVaeDecoderTensors, isIgnoredVaeTensor, validateVaeConfig, type VaeConfig } from './vae-graph.ts';

/** T5 sequence length of FLUX.1 [schnell] (`max_sequence_length` 256). */
export const T5_SEQUENCE_LENGTH = 256;

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
  close(): Promise<void>;
}

/** A checkpoint as a WeightSource that checks each tensor's shape when it is read. */
function weightSource(checkpoint: TensorSource, dir: string): WeightSource {
  return {
    async read(name, shape) {
      if (!checkpoint.has(name)) throw new CheckpointError(`${dir}: tensor ${name} is missing`, dir, name);
      const info = checkpoint.info(name);
      if (info.shape.join(',') !== shape.join(',')) {
        throw new CheckpointError(`${info.file}: tensor ${name} has shape [${info.shape}], expected [${shape}]`, info.file, name);
      }
      return checkpoint.readFloat32(name);
    },
  };
}

/**
 * Compares a checkpoint's tensors with the expected names, shapes and float dtypes.
 * @param ignore names that may be present and are not converted (e.g. the VAE encoder)
 */
export function checkTensors(checkpoint: Pick<TensorSource, 'names' | 'has' | 'info'>, dir: string, expected: Map<string, number[]>, ignore: (name: string) => boolean): void {
  for (const [name, shape] of expected) {
    if (!checkpoint.has(name)) throw new CheckpointError(`${dir}: tensor ${name} is missing (expected shape [${shape}])`, dir, name);
    const info = checkpoint.info(name);
    if (info.shape.join(',') !== shape.join(',')) {
      throw new CheckpointError(`${info.file}: tensor ${name} has shape [${info.shape}], expected [${shape}]`, info.file, name);
    }
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
      throw new CheckpointError(`${info.file}: tensor ${name} has dtype ${info.dtype}; only F32, F16 and BF16 are supported`, info.file, name);
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
 * Opens folder `dir` of the checkpoint (config + safetensors named `baseName`), validates
 * its config and tensors, and closes the tensors again if anything is wrong.
 */
async function openComponent<C>(
  files: CheckpointFiles,
  dir: string,
  baseName: string,
  validate: (raw: unknown, file: string) => C,
  expected: (config: C, checkpoint: TensorSource) => Map<string, number[]>,
  ignore: (name: string) => boolean,
): Promise<{ config: C; checkpoint: TensorSource; weights: WeightSource }> {
  const configPath = joinPath(dir, 'config.json');
  const config = validate(await readCheckpointJson(files, configPath), files.labelOf(configPath));
  const checkpoint = await openSafetensorsCheckpoint(files, dir, baseName);
  const dirLabel = files.labelOf(dir);
  try {
    checkTensors(checkpoint, dirLabel, expected(config, checkpoint), ignore);
  } catch (error) {
    await checkpoint.close();
    throw error;
  }
  return { config, checkpoint, weights: weightSource(checkpoint, dirLabel) };
}

const shardIndex = (i: number) => String(i).padStart(2, '0');

/** transformer/: embed, block shards (by size), head. */
export async function prepareTransformer(files: CheckpointFiles, dir: string, precision: WeightPrecision, maxShardBytes: number): Promise<PreparedComponent<TransformerConfig>> {
  const { config, checkpoint, weights } = await openComponent(files, dir, 'diffusion_pytorch_model', validateTransformerConfig, (c) => expectedTransformerTensors(c), () => false);
  const plans = planBlockShards(config, precision, maxShardBytes);
  const jobs: GraphJob[] = [{ name: 'transformer_embed', role: 'transformer-embed', weights, build: (ctx) => buildEmbed(ctx, config) }];
  for (const [index, plan] of plans.entries()) {
    const kind = plan.double[1] > plan.double[0] ? `double_${plan.double[0]}-${plan.double[1] - 1}` : `single_${plan.single[0]}-${plan.single[1] - 1}`;
    jobs.push({ name: `transformer_blocks_${shardIndex(index)}_${kind}`, role: 'transformer-blocks', weights, build: (ctx) => buildBlocks(ctx, config, plan), extra: { blocks: { double: plan.double, single: plan.single } } });
  }
  jobs.push({ name: 'transformer_head', role: 'transformer-head', weights, build: (ctx) => buildHead(ctx, config) });
  return { config, jobs, close: () => checkpoint.close() };
}

/** vae/: the decoder only (encoder and quant_conv tensors are ignored). */
export async function prepareVae(files: CheckpointFiles, dir: string): Promise<PreparedComponent<VaeConfig>> {
  const { config, checkpoint, weights } = await openComponent(files, dir, 'diffusion_pytorch_model', validateVaeConfig, (c) => expectedVaeDecoderTensors(c), isIgnoredVaeTensor);
  return { config, jobs: [{ name: 'vae_decoder', role: 'vae-decoder', weights, build: (ctx) => buildVaeDecoder(ctx, config) }], close: () => checkpoint.close() };
}

/** text_encoder/: the CLIP-L text model, one graph. */
export async function prepareClip(files: CheckpointFiles, dir: string) {
  const { config, checkpoint, weights } = await openComponent(files, dir, 'model', validateClipConfig, (c) => expectedClipTensors(c), isIgnoredClipTensor);
  const jobs: GraphJob[] = [{ name: 'text_encoder_clip', role: 'text-encoder-clip', weights, build: (ctx) => buildClipTextEncoder(ctx, config) }];
  return { config, jobs, close: () => checkpoint.close() };
}

/** text_encoder_2/: the T5 encoder, an embed shard and layer shards (by size). */
export async function prepareT5(files: CheckpointFiles, dir: string, precision: WeightPrecision, maxShardBytes: number) {
  let embeddingName = '';
  const { config, checkpoint, weights } = await openComponent(files, dir, 'model', validateT5Config, (c, ckpt) => {
    embeddingName = t5EmbeddingName(ckpt.names(), files.labelOf(dir));
    return expectedT5Tensors(c, embeddingName);
  }, isIgnoredT5Tensor);
  const jobs: GraphJob[] = [{ name: 'text_encoder_t5_embed', role: 'text-encoder-t5-embed', weights, build: (ctx) => buildT5Embed(ctx, config, T5_SEQUENCE_LENGTH, { embeddingName }) }];
  for (const [index, plan] of planT5Shards(config, precision, maxShardBytes).entries()) {
    jobs.push({
      name: `text_encoder_t5_blocks_${shardIndex(index)}_${plan.blocks[0]}-${plan.blocks[1] - 1}`,
      role: 'text-encoder-t5-blocks',
      weights,
      build: (ctx) => buildT5Blocks(ctx, config, plan, T5_SEQUENCE_LENGTH),
      extra: { layers: plan.blocks },
    });
  }
  return { config, jobs, close: () => checkpoint.close() };
}
