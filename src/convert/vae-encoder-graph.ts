/**
 * The FLUX VAE encoder (diffusers `AutoencoderKL.encode` up to the posterior's moments,
 * v0.32) as one ONNX graph:
 *
 *   image [1, 3, height, width] (pixels scaled to [−1, 1]: 2·(u8/255) − 1)
 *     → moments [1, 2·latent_channels, height/8, width/8] (mean, then logvar; unclamped)
 *
 * diffusers `Encoder`: conv_in → down_blocks over block_out_channels, each
 * `layers_per_block` ResnetBlock2D and, on all but the last, a Downsample2D (zero pad
 * right and bottom by 1, then a 3×3 conv with stride 2) → mid_block (resnet, attention,
 * resnet) → GroupNorm → SiLU → conv_out (double_z: 2·latent_channels). FLUX has no
 * quant_conv. The posterior (`DiagonalGaussianDistribution`: split, clamp logvar to
 * [−30, 20], std = exp(½·logvar)) is computed by the pipeline from `moments`, so that a
 * tiled encode can blend the moments exactly as diffusers' `tiled_encode` does.
 *
 * Weights are stored as the decoder's are (vae-graph.ts): convolutions float32 (fp32)
 * or float16 + Cast, the mid-block attention linears at 8 bits at least (storage.ts).
 */
import { floatWeight, param, silu, type LayerContext } from './layers.ts';
import { addConv, addNorm, addResnet, DecoderBuilder, expectedVaeDecoderTensors, type Shapes, type VaeConfig } from './vae-graph.ts';

/** One down block of the encoder: its resnets' channels and whether it downsamples. */
interface DownBlockPlan {
  prefix: string;
  resnets: { prefix: string; inC: number; outC: number }[];
  downsample: boolean;
}

/** The encoder's layout, shared by the tensor list and the graph builder so they cannot disagree. */
function encoderPlan(c: VaeConfig): { first: number; top: number; downBlocks: DownBlockPlan[] } {
  const channels = c.block_out_channels;
  let prev = channels[0];
  const downBlocks = channels.map((outC, i): DownBlockPlan => {
    const prefix = `encoder.down_blocks.${i}`;
    const resnets = Array.from({ length: c.layers_per_block }, (_, j) => ({ prefix: `${prefix}.resnets.${j}`, inC: j === 0 ? prev : outC, outC }));
    prev = outC;
    return { prefix, resnets, downsample: i !== channels.length - 1 };
  });
  return { first: channels[0], top: channels[channels.length - 1], downBlocks };
}

/**
 * Why this VAE config cannot have an encoder graph, or undefined when it can: the encoder
 * needs `in_channels` 3, one "DownEncoderBlock2D" per `block_out_channels` entry and no
 * quant_conv (FLUX's VAE has all of that).
 */
export function vaeEncoderProblem(config: VaeConfig): string | undefined {
  const types = config.down_block_types;
  if (!types) return 'its config has no "down_block_types"';
  if (types.length !== config.block_out_channels.length || types.some((t) => t !== 'DownEncoderBlock2D')) {
    return `"down_block_types" must be ${config.block_out_channels.length} × "DownEncoderBlock2D" (got ${JSON.stringify(types)})`;
  }
  if ((config.in_channels ?? 3) !== 3) return `"in_channels" must be 3 (RGB; got ${config.in_channels})`;
  if (config.use_quant_conv) return '"use_quant_conv" must be false: quant_conv is not supported (FLUX has none)';
  return undefined;
}

/** Every `encoder.*` tensor the graph reads, with its shape (diffusers names). */
export function expectedVaeEncoderTensors(config: VaeConfig): Map<string, number[]> {
  const { first, top, downBlocks } = encoderPlan(config);
  const s: Shapes = new Map();
  addConv(s, 'encoder.conv_in', config.in_channels ?? 3, first, 3);
  for (const block of downBlocks) {
    for (const r of block.resnets) addResnet(s, r.prefix, r.inC, r.outC);
    if (block.downsample) {
      const ch = block.resnets[block.resnets.length - 1]?.outC ?? first;
      addConv(s, `${block.prefix}.downsamplers.0.conv`, ch, ch, 3);
    }
  }
  addResnet(s, 'encoder.mid_block.resnets.0', top, top);
  if (config.mid_block_add_attention) {
    const a = 'encoder.mid_block.attentions.0';
    addNorm(s, `${a}.group_norm`, top);
    for (const name of ['to_q', 'to_k', 'to_v', 'to_out.0']) {
      s.set(`${a}.${name}.weight`, [top, top]);
      s.set(`${a}.${name}.bias`, [top]);
    }
  }
  addResnet(s, 'encoder.mid_block.resnets.1', top, top);
  addNorm(s, 'encoder.conv_norm_out', top);
  addConv(s, 'encoder.conv_out', top, 2 * config.latent_channels, 3);
  return s;
}

/** Whether a checkpoint that holds `names` has the encoder (its first conv). */
export function hasVaeEncoderTensors(names: Iterable<string>): boolean {
  for (const name of names) if (name === 'encoder.conv_in.weight') return true;
  return false;
}

/**
 * Which VAE graphs a checkpoint gives: always the decoder; the encoder when the checkpoint
 * holds its tensors and the config supports it.
 * @returns the tensors to check (decoder, plus encoder when it is built)
 */
export function planVaeGraphs(config: VaeConfig, names: Iterable<string>): { encoder: boolean; expected: Map<string, number[]> } {
  const encoder = hasVaeEncoderTensors(names) && vaeEncoderProblem(config) === undefined;
  const expected = expectedVaeDecoderTensors(config);
  if (encoder) for (const [name, shape] of expectedVaeEncoderTensors(config)) expected.set(name, shape);
  return { encoder, expected };
}

/** Why `planVaeGraphs` leaves the encoder out (for the converter's notes). */
export function vaeEncoderSkipReason(config: VaeConfig, names: Iterable<string>): string {
  if (!hasVaeEncoderTensors(names)) return 'the checkpoint has no encoder.* tensors';
  return vaeEncoderProblem(config) ?? 'not needed';
}

/**
 * diffusers Downsample2D with `padding=0`: F.pad(x, (0, 1, 0, 1)) then a 3×3 conv with
 * stride 2 and no padding, as one Conv with pads [0, 0, 1, 1] (end of H and W).
 */
async function downsample(ctx: LayerContext, x: string, prefix: string, ch: number): Promise<string> {
  const dims = [ch, ch, 3, 3];
  const w = floatWeight(ctx, `${prefix}.weight`, dims, await ctx.weights.read(`${prefix}.weight`, dims));
  const b = await param(ctx, `${prefix}.bias`, [ch]);
  const attributes = { kernel_shape: [3, 3], pads: [0, 0, 1, 1], strides: [2, 2], dilations: [1, 1], group: 1 };
  return ctx.g.op('Conv', [x, w, b], attributes, '', ctx.g.layerName(prefix));
}

/**
 * Adds the VAE encoder to `ctx.g`: input `image` float32 [1, in_channels, 'height',
 * 'width'] in [−1, 1], output `moments` float32 [1, 2·latent_channels, 'latent_height',
 * 'latent_width'] (mean then logvar, as the encoder computes them). Reads exactly the
 * tensors of `expectedVaeEncoderTensors(config)`, each once.
 * @throws Error when `vaeEncoderProblem(config)` names a problem (callers check first)
 */
export async function buildVaeEncoder(ctx: LayerContext, config: VaeConfig): Promise<void> {
  const problem = vaeEncoderProblem(config);
  if (problem) throw new Error(`VAE encoder: ${problem}`);
  const { g } = ctx;
  const { first, top, downBlocks } = encoderPlan(config);
  const b = new DecoderBuilder(ctx, config.norm_num_groups);
  const inC = config.in_channels ?? 3;

  let x = g.input('image', 'float32', [1, inC, 'height', 'width']);
  x = await b.conv(x, 'encoder.conv_in', inC, first, 3);
  for (const block of downBlocks) {
    for (const r of block.resnets) x = await b.resnet(x, r.prefix, r.inC, r.outC);
    if (block.downsample) {
      const ch = block.resnets[block.resnets.length - 1]?.outC ?? first;
      x = await downsample(ctx, x, `${block.prefix}.downsamplers.0.conv`, ch);
    }
  }
  x = await b.resnet(x, 'encoder.mid_block.resnets.0', top, top);
  if (config.mid_block_add_attention) x = await b.attention(x, 'encoder.mid_block.attentions.0', top);
  x = await b.resnet(x, 'encoder.mid_block.resnets.1', top, top);
  x = silu(g, await b.groupNorm(x, 'encoder.conv_norm_out', top));
  x = await b.conv(x, 'encoder.conv_out', top, 2 * config.latent_channels, 3);
  g.output(x, 'moments', 'float32', [1, 2 * config.latent_channels, 'latent_height', 'latent_width']);
}
