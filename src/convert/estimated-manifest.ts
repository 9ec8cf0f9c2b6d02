/**
 * The manifest the converter would write for a checkpoint, from its configs alone: every
 * graph with its role, block or layer range, stored and uploaded weight bytes (the
 * converter's sharding and size rules), no files. For the memory plans of packages that
 * cannot be built here (the real FLUX.1 [schnell] at 12 GB): `memoryBudget()` takes it
 * like a real manifest.
 */
import { DEFAULTS, FAMILY_DEFAULTS } from '../defaults.ts';
import { PACKAGE_FORMAT, PACKAGE_FORMAT_VERSION, type GraphEntry, type GraphRole, type Manifest, type WeightPrecision } from '../package/manifest.ts';
import { expectedClipTensors, validateClipConfig } from './clip-graph.ts';
import { estimateTensorBytes, type ComponentConfigs } from './size-estimate.ts';
import { expectedT5Tensors, planT5Shards, validateT5Config } from './t5-graph.ts';
import { expectedTransformerTensors, planBlockShards, validateTransformerConfig } from './transformer-graphs.ts';
import { expectedVaeEncoderTensors, vaeEncoderProblem } from './vae-encoder-graph.ts';
import { expectedVaeDecoderTensors, validateVaeConfig } from './vae-graph.ts';

type Shapes = Map<string, number[]>;

/** Stored and uploaded bytes of a set of tensors: float16-stored tensors are uploaded as float32. */
function sizes(shapes: Shapes, precision: WeightPrecision): { weightBytes: number; uploadBytes: number } {
  let weightBytes = 0;
  let uploadBytes = 0;
  for (const [name, shape] of shapes) {
    const stored = estimateTensorBytes(new Map([[name, shape]]), precision);
    const count = shape.reduce((a, b) => a * b, 1);
    weightBytes += stored;
    // Quantized linears store 0.625 or 1.125 bytes per value, float32 4: exactly 2 means float16.
    uploadBytes += precision !== 'fp32' && stored === count * 2 ? stored * 2 : stored;
  }
  return { weightBytes, uploadBytes };
}

function pick(shapes: Shapes, keep: (name: string) => boolean): Shapes {
  return new Map([...shapes].filter(([name]) => keep(name)));
}

/**
 * A manifest with the graphs `flux-webgpu convert` would write for these configs.
 * @param maxShardMb the converter's `--max-shard-mb` (default the converter's)
 */
export function estimatedManifest(configs: ComponentConfigs, precision: WeightPrecision, maxShardMb = DEFAULTS.maxShardMb): Manifest {
  const maxShardBytes = maxShardMb * 2 ** 20;
  const graphs: GraphEntry[] = [];
  const add = (name: string, role: GraphRole, shapes: Shapes, extra: Partial<GraphEntry> = {}) => {
    graphs.push({ name, role, model: `${name}.onnx`, data: `${name}.onnx_data`, inputs: [], outputs: [], weightPrecision: precision, computePrecision: 'fp32', ...sizes(shapes, precision), ...extra });
  };
  const two = (i: number) => String(i).padStart(2, '0');

  const transformer = validateTransformerConfig(configs.transformer, 'transformer');
  const tt = expectedTransformerTensors(transformer);
  const isBlock = (n: string) => n.startsWith('transformer_blocks.') || n.startsWith('single_transformer_blocks.');
  const isHead = (n: string) => n.startsWith('norm_out.') || n.startsWith('proj_out.');
  if (configs.textEncoder && configs.textEncoder2) {
    add('text_encoder_clip', 'text-encoder-clip', expectedClipTensors(validateClipConfig(configs.textEncoder, 'text_encoder')));
    const t5 = validateT5Config(configs.textEncoder2, 'text_encoder_2');
    const t5t = expectedT5Tensors(t5);
    const inBlock = (n: string, a: number, b: number) => {
      const m = /^encoder\.block\.(\d+)\./.exec(n);
      return m !== null && Number(m[1]) >= a && Number(m[1]) < b && !n.includes('relative_attention_bias');
    };
    add('text_encoder_t5_embed', 'text-encoder-t5-embed', pick(t5t, (n) => (!n.startsWith('encoder.block.') && !n.startsWith('encoder.final_layer_norm')) || n.includes('relative_attention_bias')));
    for (const [i, plan] of planT5Shards(t5, precision, maxShardBytes).entries()) {
      const shapes = pick(t5t, (n) => inBlock(n, plan.blocks[0], plan.blocks[1]) || (plan.final && n.startsWith('encoder.final_layer_norm')));
      add(`text_encoder_t5_blocks_${two(i)}_${plan.blocks[0]}-${plan.blocks[1] - 1}`, 'text-encoder-t5-blocks', shapes, { layers: plan.blocks });
    }
  }
  add('transformer_embed', 'transformer-embed', pick(tt, (n) => !isBlock(n) && !isHead(n)));
  for (const [i, plan] of planBlockShards(transformer, precision, maxShardBytes).entries()) {
    const inRange = (n: string) => {
      const d = /^transformer_blocks\.(\d+)\./.exec(n);
      if (d) return Number(d[1]) >= plan.double[0] && Number(d[1]) < plan.double[1];
      const s = /^single_transformer_blocks\.(\d+)\./.exec(n);
      return s !== null && Number(s[1]) >= plan.single[0] && Number(s[1]) < plan.single[1];
    };
    const kind = plan.double[1] > plan.double[0] ? 'double' : 'single';
    const range = kind === 'double' ? plan.double : plan.single;
    add(`transformer_blocks_${two(i)}_${kind}_${range[0]}-${range[1] - 1}`, 'transformer-blocks', pick(tt, inRange), { blocks: { double: plan.double, single: plan.single } });
  }
  add('transformer_head', 'transformer-head', pick(tt, isHead));
  const vae = validateVaeConfig(configs.vae, 'vae');
  add('vae_decoder', 'vae-decoder', expectedVaeDecoderTensors(vae));
  // Image-to-image's encoder, where the checkpoint has it (the converter writes it then).
  if (vaeEncoderProblem(vae) === undefined) add('vae_encoder', 'vae-encoder', expectedVaeEncoderTensors(vae));
  const uploaded = (g: GraphEntry) => g.uploadBytes ?? g.weightBytes;
  const encoderBytes = graphs.filter((g) => g.role === 'vae-encoder').reduce((sum, g) => sum + uploaded(g), 0);

  const tokenizer = (name: string, maxLength: number) => ({ tokenizerJson: `${name}/tokenizer.json`, tokenizerConfig: `${name}/tokenizer_config.json`, maxLength });
  return {
    format: PACKAGE_FORMAT,
    formatVersion: PACKAGE_FORMAT_VERSION,
    modelId: 'estimate',
    weights: precision,
    createdBy: 'estimatedManifest',
    configs: { transformer: configs.transformer, vae: configs.vae, text_encoder: configs.textEncoder, text_encoder_2: configs.textEncoder2 },
    ...(configs.textEncoder2 ? { tokenizers: { clip: tokenizer('tokenizer', FAMILY_DEFAULTS.schnell.clipTokens), t5: tokenizer('tokenizer_2', FAMILY_DEFAULTS.schnell.t5Tokens) } } : {}),
    graphs,
    files: [],
    requirements: {
      // As the converter counts them: the encoder apart (only image-to-image loads it).
      totalWeightBytes: graphs.reduce((sum, g) => sum + uploaded(g), 0) - encoderBytes,
      ...(encoderBytes ? { vaeEncoderWeightBytes: encoderBytes } : {}),
      largestWeightBufferBytes: 0,
      largestActivationBytesAt1024: 0,
      shaderF16: false,
    },
  };
}
